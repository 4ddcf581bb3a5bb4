# A fresh clone needs two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-faults lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The example `orders` pipeline on the embedded PostgreSQL (under .polaretl/).
demo: $(STAMP)
	env -u POLARETL_DATABASE_URL $(VENV)/bin/polaretl run orders --full-refresh
	env -u POLARETL_DATABASE_URL $(VENV)/bin/polaretl show $$(env -u POLARETL_DATABASE_URL $(VENV)/bin/polaretl runs orders --json --limit 1 | $(PY) -c "import json,sys; print(json.load(sys.stdin)[0]['run_id'])")

# pytest's exit code 5 (no test collected) must fail, not pass in silence.
# `make test` leaves out the long fault scenarios (marked `full`); `make test-faults`
# runs the whole fault suite and prints how many scenarios ran and invariants held.
test: $(STAMP)
	@$(PY) -m pytest -m "not full" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-faults: $(STAMP)
	@$(PY) -m pytest tests/faults tests/run $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check polaretl tests benchmarks connectors contracts
	$(VENV)/bin/ruff format --check polaretl tests benchmarks connectors contracts
	$(VENV)/bin/mypy polaretl

# The whole benchmark suite (load table with dlt and pandas, chunk sweep, 10M-row RSS,
# Celery 1 vs 2 workers); results, chart and PERFORMANCE.md go to benchmarks/results/.
# e.g. `make bench BENCH_ARGS="--quick"` or `BENCH_ARGS="--skip-10m --skip-celery"`.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .polaretl .pytest_cache .ruff_cache .mypy_cache benchmarks/.data

# A fresh clone needs two commands: `make demo` and `make test`.
#
# Installs come from uv.lock (exact versions and hashes), through a pinned uv that is
# bootstrapped into .uv/ with the machine's Python: nothing but Python 3.11+ is needed.
PYTHON     ?= python3
UV_VERSION := 0.13.9
UV_DIR     := .uv
UV         := $(UV_DIR)/bin/uv
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-dev
LATEST     := .venv-latest
SOURCES    := polaretl tests benchmarks connectors contracts

# uv must not wander: the project's venv is .venv, whatever the caller's environment says.
export UV_PROJECT_ENVIRONMENT := $(VENV)
unexport VIRTUAL_ENV

.PHONY: demo test test-faults test-hosts test-latest lint lock bench clean

$(UV):
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# `--locked` fails if uv.lock no longer matches pyproject.toml (run `make lock`).
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
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

# The multi-host proof: PostgreSQL, Redis, S3 (moto), two worker hosts with their own
# copy of the workspace and a client, each in a network namespace of its own; a Celery
# run over 8 objects equals a local run, also with one worker host SIGKILLed mid-run.
# Needs root (ip netns); skips and says why elsewhere.
test-hosts: $(STAMP)
	@$(PY) -m pytest -m full -p no:cacheprovider -rs tests/hosts $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The suite against the newest release of every dependency, in a venv of its own
# (.venv-latest): how upstream drift is found before users find it. Not from the lock.
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --refresh --upgrade -e ".[dev]"
	@$(UV) pip list --python $(LATEST)/bin/python --format freeze > $(LATEST)/versions.txt
	@echo "newest releases installed: $(LATEST)/versions.txt"
	@$(LATEST)/bin/python -m pytest -m "not full" -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# Refresh uv.lock to the newest releases that pyproject's ranges allow.
lock: | $(UV)
	$(UV) lock --upgrade

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(VENV)/bin/mypy polaretl

# The whole benchmark suite (load table with dlt and pandas, chunk sweep, 10M-row RSS,
# Celery 1 vs 2 workers); results, chart and PERFORMANCE.md go to benchmarks/results/.
# e.g. `make bench BENCH_ARGS="--quick"` or `BENCH_ARGS="--skip-10m --skip-celery"`.
bench: $(STAMP)
	$(UV) sync --locked --extra dev --extra bench --inexact --quiet
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) $(UV_DIR) .polaretl .pytest_cache .ruff_cache .mypy_cache benchmarks/.data

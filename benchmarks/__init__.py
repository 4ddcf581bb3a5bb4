"""polaretl benchmarks: measured, never asserted (speed is not a test).

``python -m benchmarks`` runs the suite (today: the load benchmark, `benchmarks.load`);
``python -m benchmarks.datagen`` only generates the cached input CSV.
"""

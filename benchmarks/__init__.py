"""polaretl benchmarks: measured, never asserted (speed is not a test).

``python -m benchmarks`` runs the whole suite (`benchmarks.suite`): the load table against
raw ``psql \\copy`` with dlt and pandas, a chunk-size sweep with peak RSS, a 10M-row RSS
run and Celery scaling; ``python -m benchmarks load`` the load table alone;
``python -m benchmarks.datagen`` only generates the cached input CSV.
"""

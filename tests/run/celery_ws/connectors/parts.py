"""Test pipelines for the Celery executor (the test writes data/ before using them)."""

import os
import signal
import time

import polars as pl

import polaretl as pe
from contracts.parts import Part


def slow(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Sleep per batch when POLARETL_TEST_SLOW is set, so a test can kill mid-slice."""
    delay = float(os.environ.get("POLARETL_TEST_SLOW", "0"))
    if delay:
        time.sleep(delay)
    return lf


parts = pe.Pipeline(
    "parts",
    extractor=pe.CsvExtractor("data/parts/*.csv"),
    contract=Part,
    transforms=[slow],
    loader=pe.PostgresLoader("parts", key="part_id", mode="upsert"),
    chunk_size=50,
    concurrency=2,
)

parts_local = pe.Pipeline(
    "parts_local",
    extractor=pe.CsvExtractor("data/parts/*.csv"),
    contract=Part,
    loader=pe.PostgresLoader("parts_local", key="part_id", mode="upsert"),
    chunk_size=50,
)


class Doomed(pe.Extractor):
    """Kills the process that reads slice 'die': a record that always crashes a worker."""

    def slices(self):
        return ["fine", "die"]

    def read(self, slice, state, chunk_size):
        if slice == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if not state:
            frame = pl.DataFrame({"part_id": ["1", "2"], "qty": ["1", "2"], "label": ["a", "b"]})
            yield pe.Chunk(frame, source=slice, position={"done": True})


doomed = pe.Pipeline(
    "doomed",
    extractor=Doomed(),
    contract=Part,
    loader=pe.PostgresLoader("doomed", key="part_id", mode="upsert"),
)


class Tick(pe.Extractor):
    def read(self, slice, state, chunk_size):
        n = (state or {}).get("n", 0) + 1
        frame = pl.DataFrame({"part_id": [str(n)], "qty": ["1"], "label": ["tick"]})
        yield pe.Chunk(frame, source=f"tick {n}", position={"n": n})


ticker = pe.Pipeline(
    "ticker",
    extractor=Tick(),
    contract=Part,
    loader=pe.PostgresLoader("ticks", key="part_id", mode="upsert"),
    schedule="2s",
)

"""Run a pipeline in a subprocess that SIGKILLs itself at a chosen point.

Usage: python -m tests.run.crashrun URL CSV_GLOB CHUNK_SIZE WHEN BATCH
WHEN: "after" (just after batch BATCH committed) or "during" (inside batch BATCH's
transaction, after its rows were COPYed and before its checkpoint is written).
"""

from __future__ import annotations

import os
import signal
import sys

import polaretl as pe
from contracts.orders import Order
from polaretl.record import quarantine


def main() -> None:
    url, pattern, chunk_size, when, batch = sys.argv[1:6]
    target = int(batch)
    committed = 0

    def progress(event: dict) -> None:
        nonlocal committed
        committed += 1
        if when == "after" and committed == target:
            os.kill(os.getpid(), signal.SIGKILL)

    if when == "during":
        original = quarantine.write
        calls = 0

        def write_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            result = original(*args, **kwargs)
            if calls == target:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        quarantine.write = write_then_die  # type: ignore[assignment]
        import polaretl.run.batch as batch_module

        batch_module.quarantine.write = write_then_die  # type: ignore[attr-defined]

    pipeline = pe.Pipeline(
        "crashy",
        extractor=pe.CsvExtractor(pattern),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
        chunk_size=int(chunk_size),
    )
    pipeline.run(database_url=url, progress=progress)


if __name__ == "__main__":
    main()

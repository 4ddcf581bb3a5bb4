"""Rows per second of `RestExtractor` on 1M customer records served by a local server.

The server (tests/extract/restserver.py) runs in its own process on 127.0.0.1 and
serves cursor pages from memory (rendered once, before timing), so the figure is the
extractor's: HTTP receive, JSON parse, flatten to text columns, chunk assembly.

    PYTHONPATH=. .venv/bin/python benchmarks/extract_rest.py [--records 1000000] [--page 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from polaretl.extract.rest import CursorPaginator, RestExtractor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=10_000, help="records per page")
    parser.add_argument("--chunk", type=int, default=100_000, help="chunk_size")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.extract.restserver", "--records", str(args.records)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        url = f"{base}/cursor"
        # Render and cache every page once (untimed), and measure the raw transfer.
        body_bytes, cursor, pages = 0, None, 0
        started = time.perf_counter()
        with httpx.Client(timeout=120) as client:
            while pages < 100_000:
                params = {"limit": args.page, **({"cursor": cursor} if cursor else {})}
                resp = client.get(url, params=params)
                body_bytes += len(resp.content)
                pages += 1
                cursor = json.loads(resp.content)["meta"]["next_cursor"]
                if cursor is None:
                    break
        print(
            f"server warm-up: {pages} pages, {body_bytes / 1e6:.0f} MB "
            f"({time.perf_counter() - started:.1f} s)"
        )

        def transfer() -> float:
            t0 = time.perf_counter()
            cur = None
            with httpx.Client(timeout=120) as client:
                for _ in range(pages):
                    params = {"limit": args.page, **({"cursor": cur} if cur else {})}
                    raw = client.get(url, params=params).content
                    cur = json.loads(raw)["meta"]["next_cursor"]
            return time.perf_counter() - t0

        cpu: list[float] = []  # CPU seconds of this process: steadier on a busy machine

        def extract() -> tuple[float, int]:
            ex = RestExtractor(
                url,
                records_path="items",
                params={"limit": args.page},
                paginator=CursorPaginator("meta.next_cursor"),
            )
            t0, c0 = time.perf_counter(), time.process_time()
            rows = sum(c.frame.height for c in ex.read("all", None, args.chunk))
            cpu.append(time.process_time() - c0)
            return time.perf_counter() - t0, rows

        base_times = [transfer() for _ in range(args.repeat)]
        runs = [extract() for _ in range(args.repeat)]
        rows = runs[0][1]
        assert rows == args.records, rows
        secs = statistics.median(t for t, _ in runs)
        floor = statistics.median(base_times)
        print(
            f"baseline, httpx GET + json.loads per page, no frames: {floor:.2f} s, "
            f"{args.records / floor:,.0f} rows/s"
        )
        print(
            f"RestExtractor: {rows:,} rows, {body_bytes / 1e6:.0f} MB in {secs:.2f} s "
            f"(median of {args.repeat}): {rows / secs:,.0f} rows/s, "
            f"{body_bytes / 1e6 / secs:.0f} MB/s"
        )
        print(
            f"RestExtractor CPU time: {statistics.median(cpu):.2f} s "
            f"({args.records / statistics.median(cpu):,.0f} rows per CPU-second)"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()

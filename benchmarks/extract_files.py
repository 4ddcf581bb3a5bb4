"""Throughput of XmlExtractor, NdjsonExtractor and ParquetExtractor, and peak memory of
XmlExtractor on a large file.

    python benchmarks/extract_files.py                      # 1M records; XML RSS on 10M
    python benchmarks/extract_files.py --rows 200000 --xml-rss-rows 1000000 --repeat 1

Input files are generated once into ``benchmarks/.data/`` (git-ignored) and reused.
Every measurement runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own;
``ru_maxrss`` would not do: Linux carries it over ``exec`` from the forked parent.
Each run reads the whole file through ``extractor.read`` (as a pipeline does) and
materialises every chunk; rows/s is the median over ``--repeat`` runs. CPU seconds
(user + system, all threads) are printed too: on a shared machine they move less than
wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
RESULTS = ROOT / "benchmarks" / "results"
PREFIX = "extract-files-v1"  # bump the version when the generated content changes

XML_FIELDS = {
    "order_id": "@id",
    "customer_id": "customer",
    "amount": "amount",
    "status": "status",
    "created_at": "created_at",
    "note": "note",
    "city": "address/city",
}


def _record(i: int) -> dict[str, object]:
    return {
        "order_id": i,
        "customer_id": i % 9973 + 1,
        "amount": round((i * 7919) % 100_000 / 100, 2),
        "status": ("new", "paid", "shipped")[i % 3],
        "created_at": f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:{i % 60:02d}:00",
        "note": None if i % 10 < 3 else f"note {i % 1000}",
        "city": ("Paris", "Lyon", "Nantes", "Lille")[i % 4],
    }


def generate_xml(path: Path, rows: int) -> Path:
    """An orders feed of `rows` records, written in blocks (about 160 bytes a record)."""
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n')
        for lo in range(1, rows + 1, 100_000):
            parts = []
            for i in range(lo, min(lo + 100_000, rows + 1)):
                r = _record(i)
                note = f"<note>{r['note']}</note>" if r["note"] is not None else "<note/>"
                parts.append(
                    f'<order id="{i}"><customer>{r["customer_id"]}</customer>'
                    f"<amount>{r['amount']}</amount><status>{r['status']}</status>"
                    f"<created_at>{r['created_at']}</created_at>{note}"
                    f"<address><city>{r['city']}</city></address></order>\n"
                )
            out.write("".join(parts))
        out.write("</orders>\n")
    tmp.rename(path)
    return path


def _frame(rows: int):  # -> pl.DataFrame
    import polars as pl

    i = pl.int_range(1, rows + 1, eager=True, dtype=pl.Int64)
    return pl.DataFrame({"i": i}).select(
        pl.col("i").alias("order_id"),
        (pl.col("i") % 9973 + 1).alias("customer_id"),
        ((pl.col("i") * 7919) % 100_000 / 100).alias("amount"),
        pl.col("i").mod(3).replace_strict([0, 1, 2], ["new", "paid", "shipped"]).alias("status"),
        (pl.datetime(2026, 1, 1) + pl.duration(minutes=pl.col("i"))).alias("created_at"),
        pl.when(pl.col("i") % 10 < 3)
        .then(None)
        .otherwise(pl.format("note {}", pl.col("i") % 1000))
        .alias("note"),
        pl.struct(
            pl.col("i")
            .mod(4)
            .replace_strict([0, 1, 2, 3], ["Paris", "Lyon", "Nantes", "Lille"])
            .alias("city")
        ).alias("address"),
    )


def generate_ndjson(path: Path, rows: int) -> Path:
    if not path.exists():
        _frame(rows).write_ndjson(path)
    return path


def generate_parquet(path: Path, rows: int) -> Path:
    if not path.exists():
        _frame(rows).unnest("address").write_parquet(path, row_group_size=100_000)
    return path


def child(kind: str, path: str, chunk_size: int) -> None:
    """Read `path` with one extractor; print rows, seconds and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    if kind == "xml":
        from polaretl.extract.xml import XmlExtractor

        extractor = XmlExtractor(path, "order", fields=XML_FIELDS)
    elif kind == "ndjson":
        from polaretl.extract.ndjson import NdjsonExtractor

        extractor = NdjsonExtractor(path)
    else:
        from polaretl.extract.parquet import ParquetExtractor

        extractor = ParquetExtractor(path)
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = rejected = 0
    for chunk in extractor.read(path, None, chunk_size):
        rows += chunk.frame.height
        rejected += chunk.rejects.height if chunk.rejects is not None else 0
        chunk.source_labels()  # lineage labels are part of the work
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        json.dumps(
            {
                "rows": rows,
                "rejected": rejected,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_mb": _peak_kb() / 1024,
            }
        )
    )


def _peak_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(kind: str, path: Path, chunk_size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path), "--chunk-size", str(chunk_size)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records per format")
    parser.add_argument(
        "--xml-rss-rows",
        type=int,
        default=10_000_000,
        help="records of the large XML file for peak RSS (0: skip)",
    )
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.chunk_size)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    files = {
        "xml": generate_xml(DATA / f"{PREFIX}-{args.rows}.xml", args.rows),
        "ndjson": generate_ndjson(DATA / f"{PREFIX}-{args.rows}.ndjson", args.rows),
        "parquet": generate_parquet(DATA / f"{PREFIX}-{args.rows}.parquet", args.rows),
    }
    print(
        f"{args.rows:,} records, chunk_size {args.chunk_size:,}, {os.cpu_count()} CPUs, "
        f"median of {args.repeat}\n"
    )
    print("| extractor | file MB | seconds | rows/s | CPU seconds | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    report: dict[str, object] = {
        "rows": args.rows,
        "chunk_size": args.chunk_size,
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "extractors": {},
    }
    for kind, path in files.items():
        runs = [measure(kind, path, args.chunk_size) for _ in range(args.repeat)]
        assert all(r["rows"] == args.rows for r in runs), runs
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_seconds"] for r in runs)
        peak = max(r["peak_mb"] for r in runs)
        size = path.stat().st_size / 2**20
        print(
            f"| {kind} | {size:.0f} | {seconds:.2f} | {args.rows / seconds:,.0f} | {cpu:.2f} "
            f"| {peak:.0f} |"
        )
        report["extractors"][kind] = {  # type: ignore[index]
            "file_mb": size,
            "seconds": seconds,
            "rows_per_s": args.rows / seconds,
            "cpu_seconds": cpu,
            "peak_rss_mb": peak,
            "runs": runs,
        }
    if args.xml_rss_rows:
        big = generate_xml(DATA / f"{PREFIX}-{args.xml_rss_rows}.xml", args.xml_rss_rows)
        large = measure("xml", big, args.chunk_size)
        assert large["rows"] == args.xml_rss_rows, large
        size = big.stat().st_size / 2**20
        print(
            f"\nXmlExtractor on {args.xml_rss_rows:,} records ({size:,.0f} MB): peak RSS "
            f"{large['peak_mb']:.0f} MB, {large['seconds']:.0f} s "
            f"({args.xml_rss_rows / large['seconds']:,.0f} rows/s)"
        )
        report["xml_large"] = {"rows": args.xml_rss_rows, "file_mb": size, **large}
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS / f"extract_files-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

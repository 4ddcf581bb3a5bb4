"""The suite's outputs beside the JSON: a PNG chart and the README-ready PERFORMANCE.md.

Both are made from the JSON payload alone (`benchmarks.suite` writes it), so a result
file can be re-rendered later: ``python -m benchmarks.report benchmarks/results/X.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COMMAND = "make bench  # = .venv/bin/python -m benchmarks --rows 1000000 --repeat 3"


def write_chart(payload: dict[str, Any], path: Path) -> Path | None:
    """Rows/s per path (with the ratio to ``\\copy``) and the chunk sweep; None without
    matplotlib (the ``bench`` extra)."""
    try:
        import matplotlib  # noqa: PLC0415 - optional (bench extra)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    results = payload["load"]["results"]
    sweep = payload.get("chunk_sweep") or []
    fig, axes = plt.subplots(1, 2 if sweep else 1, figsize=(14 if sweep else 8, 5), squeeze=False)
    ax = axes[0][0]
    labels = [r["label"].replace("`", "") for r in results][::-1]
    speeds = [r["rows_per_s"] / 1000 for r in results][::-1]
    bars = ax.barh(labels, speeds, color="#4c72b0")
    for bar, r in zip(bars, results[::-1], strict=True):
        ratio = r.get("vs_copy")
        text = f" {r['rows_per_s'] / 1000:,.0f}k" + (f"  ({ratio:.2f}×)" if ratio else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center")
    ax.set_xlabel("thousand rows/s (ratio to psql \\copy)")
    ax.set_title(f"{payload['load']['args']['rows']:,} rows, same PostgreSQL, same CSV")
    ax.set_xlim(0, max(speeds) * 1.35)
    if sweep:
        ax2 = axes[0][1]
        sizes = [s["chunk_size"] for s in sweep]
        ax2.plot(sizes, [s["rows_per_s"] / 1000 for s in sweep], "o-", color="#4c72b0")
        ax2.set_xscale("log")
        ax2.set_xlabel("chunk_size")
        ax2.set_ylabel("thousand rows/s (append)", color="#4c72b0")
        rss = ax2.twinx()
        rss.plot(sizes, [s["peak_rss_mib"] for s in sweep], "s--", color="#c44e52")
        rss.set_ylabel("peak RSS, MiB", color="#c44e52")
        ax2.set_title("chunk-size sweep (one process per run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rows(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"


def _same_chunk(sweep: list[dict[str, Any]], big: dict[str, Any], rows: int) -> str:
    """How the big run's peak compares with the sweep's run at the same chunk size."""
    same = [x for x in sweep if x["chunk_size"] == big["chunk_size"]]
    if not same:
        return "."
    return (
        f"; the {_rows(rows)}-row run at the same chunk size peaked at "
        f"{same[0]['peak_rss_mib']:,.0f} MiB."
    )


def _load_average(results: list[dict[str, Any]], cores: int) -> str:
    loads = [x for r in results for x in r.get("load_average_1min", [])]
    if not loads:
        return ""
    return (
        f"The 1-minute load average after each run was {min(loads):.1f} to {max(loads):.1f} "
        f"on {cores} cores: how busy the machine was while it was measured."
    )


def sweep_markdown(sweep: list[dict[str, Any]]) -> str:
    lines = [
        "| chunk_size | seconds | rows/s | peak RSS (MiB) |",
        "|---:|---:|---:|---:|",
    ]
    for s in sweep:
        lines.append(
            f"| {s['chunk_size']:,} | {s['seconds']:.2f} | {s['rows_per_s']:,.0f} | "
            f"{s['peak_rss_mib']:,.0f} |"
        )
    return "\n".join(lines)


def performance_md(payload: dict[str, Any]) -> str:
    """The README's Performance section, from one suite run."""
    from benchmarks import celery_scaling  # noqa: PLC0415

    load, machine = payload["load"], payload["machine"]
    args = load["args"]
    versions = machine["versions"]
    out = [
        "## Performance",
        "",
        f"Measured with `{payload['command']}` on {payload['started_utc'][:10]}: "
        f"{args['rows']:,} generated orders rows ({load['csv_mb']:.1f} MB CSV, ~1% of rows "
        "breaking the contract, which polaretl quarantines and the others load) into a table "
        "with a primary key, every path in the same run against the same PostgreSQL "
        f"{machine['postgresql'].split()[0]}, median of {args['repeat']}, chunk_size "
        f"{args['chunk_size']:,}, on a shared {machine['cores']}-core machine with "
        f"{machine['memory_gib']} GiB (ratios hold; absolute times vary). Python "
        f"{machine['python']}, polars {versions['polars']}, pyarrow {versions['pyarrow']}, "
        f"psycopg {versions['psycopg']}, dlt {versions.get('dlt')}, pandas "
        f"{versions.get('pandas')}. Stage seconds overlap: extract and validate of the next "
        "chunk run in a thread while the current one loads.",
        "",
        load["table_markdown"],
        "",
        _load_average(load["results"], machine["cores"]),
        "",
        *[f"- {line}" for line in load["goals"]],
    ]
    sweep = payload.get("chunk_sweep")
    if sweep:
        out += [
            "",
            f"Chunk size (append of the same {_rows(args['rows'])} rows, each run in a fresh "
            "process; peak RSS is its `VmHWM`):",
            "",
            sweep_markdown(sweep),
        ]
    big = payload.get("big")
    if big:
        ratio = f", {big['vs_copy']:.2f}× raw `\\copy` ({big['copy_rows_per_s']:,.0f} rows/s)"
        out += [
            "",
            f"{_rows(big['rows'])} rows ({big['csv_mb']:,.0f} MB CSV), append, chunk_size "
            f"{big['chunk_size']:,}, in a fresh process: {big['seconds']:.1f} s, "
            f"{big['rows_per_s']:,.0f} rows/s"
            + (ratio if big.get("vs_copy") else "")
            + f"; **peak RSS {big['peak_rss_mib']:,.0f} MiB** (goal ≤ 1 GiB)"
            + _same_chunk(sweep or [], big, args["rows"]),
        ]
    celery = payload.get("celery")
    if celery:
        out += [
            "",
            f"Celery scaling (`python -m benchmarks.celery_scaling`): {_rows(celery['rows'])} "
            f"rows in {celery['files']} files, median of {celery['repeat']}: "
            f"**{celery['speedup']:.2f}×** with 2 workers on {machine['cores']} cores.",
            "",
            celery_scaling.table_markdown(celery),
        ]
    notes = payload.get("notes") or []
    if notes:
        out += ["", *notes]
    out += [
        "",
        "Reproduce (results, chart and this section go to `benchmarks/results/`):",
        "",
        "```",
        COMMAND,
        ".venv/bin/python -m benchmarks --quick                 # 100k rows, a smoke run",
        ".venv/bin/python -m benchmarks --skip-10m --skip-celery --skip-peers",
        "```",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for name in args:
        path = Path(name)
        payload = json.loads(path.read_text())
        notes = Path(__file__).resolve().parent / "NOTES.md"
        if notes.exists():  # the findings may be edited after the run
            payload["notes"] = notes.read_text().strip().splitlines()
        write_chart(payload, path.with_suffix(".png"))
        (path.parent / "PERFORMANCE.md").write_text(performance_md(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

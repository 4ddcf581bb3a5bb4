"""The data-quality commands: ``quarantine list|export|replay|discard``, ``schema``,
``lineage``. Registered on the main group by `register` (``polaretl/cli.py``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from polaretl import api, db
from polaretl.cli_common import Settings
from polaretl.cli_common import common as _common
from polaretl.cli_common import fail as _fail
from polaretl.cli_types import ID, LIMIT, IdList
from polaretl.errors import PolaretlError, RunFailedError
from polaretl.quality import corrections
from polaretl.record import quarantine as records
from polaretl.record.quarantine import QuarantineStatus
from polaretl.record.schema import ensure_schema
from polaretl.record.schema_versions import describe

console = Console(stderr=True)
out = Console(soft_wrap=True)  # long lines (lineage, errors) stay whole


def _url(project: str | None, database_url: str | None) -> str:
    """The database URL; commands run at the workspace root (embedded database, paths)."""
    settings = Settings(project, database_url)
    if project is not None or database_url is None:
        settings.root  # noqa: B018 - moves to the workspace root
    return settings.url()


def _filters(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--run", "run_id", type=ID, default=None, help="Only records of run.")(fn)
    fn = click.option("--column", default=None, help="Only records with an error on COLUMN.")(fn)
    fn = click.option("--check", default=None, help="Only records failing CHECK.")(fn)
    return click.option(
        "--status",
        type=click.Choice([*map(str, QuarantineStatus), "all"]),
        default=str(QuarantineStatus.PENDING),
        show_default=True,
    )(fn)


def _status(value: str) -> str | None:
    return None if value == "all" else value


@click.group("quarantine")
def quarantine() -> None:
    """Browse, export, replay and discard quarantined records."""


@quarantine.command("list")
@click.argument("name")
@_filters
@click.option(
    "--limit", type=LIMIT, default=20, show_default=True, help="Records shown (counts: all)."
)
@click.option("--json", "as_json", is_flag=True)
@_common
def list_(
    name: str,
    run_id: int | None,
    column: str | None,
    check: str | None,
    status: str,
    limit: int,
    as_json: bool,
    project: str | None,
    database_url: str | None,
) -> None:
    """Quarantined records of pipeline NAME, and their counts by reason."""
    filters = {"status": _status(status), "run_id": run_id, "column": column, "check": check}
    try:
        with db.connect(_url(project, database_url), autocommit=True) as conn:
            ensure_schema(conn)
            counts = records.reasons(conn, name, **filters)  # type: ignore[arg-type]
            rows = records.read(conn, name, **filters)  # type: ignore[arg-type]
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        data = {"total": rows.height, "reasons": counts.to_dicts(), "records": rows.to_dicts()}
        out.print_json(json.dumps(data, default=str))
        return
    out.print(f"[bold]{rows.height:,}[/] quarantined record(s) of {name}", highlight=False)
    table = Table("records", "column", "check")
    for r in counts.to_dicts():
        table.add_row(f"{r['records']:,}", escape(r["column"] or "-"), escape(r["check"] or "-"))
    out.print(table)
    shown = Table("id", "run", "status", "source", "first error")
    for r in rows.head(limit).to_dicts():
        errors = json.loads(r["errors"] or "[]")
        shown.add_row(
            str(r["id"]),
            str(r["run_id"]),
            r["status"],
            escape(r["source"] or "-"),
            escape(errors[0].get("message", "")) if errors else "",
        )
    out.print(shown)


@quarantine.command("export")
@click.argument("name")
@_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option("--output", "-o", default=None, help="File to write (default: NAME-quarantine.FMT).")
@_common
def export(
    name: str,
    run_id: int | None,
    column: str | None,
    check: str | None,
    status: str,
    fmt: str,
    output: str | None,
    project: str | None,
    database_url: str | None,
) -> None:
    """Write records of NAME to edit: one column per raw field, plus _quarantine_id,
    _quarantine_raw (unparsed text), _quarantine_errors. Replay it with --file."""
    target = Path(output or f"{name}-quarantine.{fmt}").resolve()
    try:
        with db.connect(_url(project, database_url), autocommit=True) as conn:
            ensure_schema(conn)
            frame = corrections.export_frame(
                conn, name, status=_status(status), run_id=run_id, column=column, check=check
            )
        corrections.write(frame, target, fmt)
    except PolaretlError as exc:
        _fail(exc)
        return
    out.print(f"wrote {frame.height:,} record(s) to {target}", highlight=False)


@quarantine.command("replay")
@click.argument("name")
@click.option("--run", "run_id", type=ID, default=None, help="Only records of run RUN_ID.")
@click.option("--file", "file", default=None, help="An edited export (CSV or Parquet).")
@click.option("--json", "as_json", is_flag=True)
@_common
def replay(
    name: str,
    run_id: int | None,
    file: str | None,
    as_json: bool,
    project: str | None,
    database_url: str | None,
) -> None:
    """Re-ingest pending records of NAME (corrected by --file) through its contract,
    transforms and loader, as a run NAME:replay; exit 1 if it failed."""
    file_path = str(Path(file).resolve()) if file else None
    try:
        url = _url(project, database_url)
        result = api.replay(name, run_id=run_id, file=file_path, database_url=url)
    except RunFailedError as exc:
        console.print(f"[bold red]failed:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
        return
    m = result.metrics
    out.print(result.summary(), highlight=False)
    out.print(
        f"replayed {m.get('replayed', 0)}, still pending {m.get('still_pending', 0)}, "
        f"need a correction {m.get('needs_correction', 0)}, skipped {m.get('skipped', 0)}",
        highlight=False,
    )


@quarantine.command("discard")
@click.argument("name")
@click.option(
    "--ids", type=IdList(), multiple=True, help="Record ids (comma-separated, repeatable)."
)
@click.option("--run", "run_id", type=ID, default=None, help="Every pending record of run.")
@click.option("--reason", required=True, help="Why (kept with each record).")
@_common
def discard(
    name: str,
    ids: tuple[list[int], ...],
    run_id: int | None,
    reason: str,
    project: str | None,
    database_url: str | None,
) -> None:
    """Discard pending records of NAME, with a reason."""
    wanted = [i for part in ids for i in part]
    if not wanted and run_id is None:
        _fail(PolaretlError("Say which records: --ids 1,2,3 and/or --run RUN_ID."))
        return
    try:
        url = _url(project, database_url)
        if run_id is not None:
            with db.connect(url, autocommit=True) as conn:
                ensure_schema(conn)
                found = records.read(conn, name, run_id=run_id, ids=wanted or None)
            wanted = found["id"].to_list() if found.height else []
        n = api.discard(name, ids=wanted, reason=reason, database_url=url)
    except PolaretlError as exc:
        _fail(exc)
        return
    out.print(f"discarded {n} record(s) of {name}", highlight=False)


@click.command("schema")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@_common
def schema(name: str, as_json: bool, project: str | None, database_url: str | None) -> None:
    """The recorded versions of NAME's source shape: columns, types and drift."""
    try:
        frame = api.schema_history(name, database_url=_url(project, database_url))
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(frame.to_dicts(), default=str))
        return
    if frame.height == 0:
        out.print(f"no schema recorded for {name} yet (it is recorded by each run)")
        return
    for r in frame.to_dicts():
        when = r["detected_at"].strftime("%Y-%m-%d %H:%M:%S") if r["detected_at"] else "-"
        out.print(
            f"[bold]v{r['version']}[/] run {r['run_id']} {when} {r['source'] or '-'}: "
            f"{describe(r)}",
            highlight=False,
        )
        out.print(f"    {r['columns'] or ''}", highlight=False)


@click.command("lineage")
@click.argument("table")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@_common
def lineage(
    table: str, key: str, as_json: bool, project: str | None, database_url: str | None
) -> None:
    """Where the row of TABLE with primary key KEY came from (KEY: 42, 60,1 for a
    composite key, or order_id=60,line=1); TABLE may also be a pipeline's name."""
    try:
        steps = api.lineage(table, key, database_url=_url(project, database_url))
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(steps.to_dicts(), default=str))
        return
    for step in steps.to_dicts():
        out.print(_step_line(step), highlight=False)


def _step_line(step: dict[str, Any]) -> str:
    at = step["at"].strftime("%Y-%m-%d %H:%M:%S") if step["at"] else "-"
    run = f"run {step['run_id']} ({step['pipeline']}, {step['run_status']})"
    record = step["quarantine_id"]
    if step["step"] == "loaded":
        origin = f" (replayed from quarantine record {record})" if record else ""
        return f"loaded {at} by {run} from {step['source']}{origin}"
    reasons = "; ".join(e.get("message", "") for e in json.loads(step["errors"] or "[]"))
    return f"quarantined {at} as record {record} by {run} from {step['source']}: {reasons}"


COMMANDS = (quarantine, schema, lineage)


def register(group: click.Group) -> None:
    """Add the data-quality commands to `group` (the ``polaretl`` main group)."""
    for command in COMMANDS:
        group.add_command(command)


__all__ = ["COMMANDS", "register"]

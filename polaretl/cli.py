"""The ``polaretl`` command line: thin, over the workspace, pipelines and records."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from polaretl import api, db
from polaretl.cli_common import Settings as _Settings
from polaretl.cli_common import common as _common
from polaretl.cli_common import console, out
from polaretl.cli_common import fail as _fail
from polaretl.cli_types import ID, LIMIT, PORT, PROCESSES
from polaretl.errors import PolaretlError, RunFailedError, WaitTimeoutError
from polaretl.init import init_workspace
from polaretl.quality.report import lines as quality_lines
from polaretl.quality.report import run_quality
from polaretl.record import quarantine as quarantine_records
from polaretl.record import runs as run_records
from polaretl.record.runs import RunResult, RunStatus
from polaretl.record.schema import ensure_schema
from polaretl.settings import current
from polaretl.workspace import get_pipeline, load_errors, load_pipelines


def _redis(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--redis-url",
        default=lambda: current().redis_url,
        help="Celery broker and live state (default: the embedded Redis under .polaretl/).",
    )(fn)


@click.group()
@click.version_option(package_name="polaretl")
def main() -> None:
    """polaretl: batch ETL from many sources into PostgreSQL."""


@main.command()
@click.argument("name")
@click.option(
    "--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True
)
@click.option("--full-refresh", is_flag=True, help="Ignore checkpoints; read every source anew.")
@click.option("--no-wait", is_flag=True, help="With --executor celery: print the run id, return.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_redis
@_common
def run(
    name: str,
    executor: str,
    full_refresh: bool,
    no_wait: bool,
    as_json: bool,
    project: str | None,
    database_url: str | None,
    redis_url: str | None,
) -> None:
    """Run pipeline NAME once; exit 0 when it succeeded, 1 when it failed."""
    settings = _Settings(project, database_url)
    try:
        pipeline = get_pipeline(settings.root, name)
        url = settings.url()
        if executor == "celery":
            result = _run_on_celery(
                settings, pipeline, url, redis_url, full_refresh, no_wait=no_wait, quiet=as_json
            )
            if result is None:
                return
        else:
            result = _run_with_progress(pipeline, url, full_refresh, quiet=as_json)
    except RunFailedError as exc:
        if as_json:
            out.print_json(
                json.dumps(
                    {
                        "status": RunStatus.FAILED,
                        "run_id": exc.attrs().get("run_id"),
                        "error": str(exc),
                    }
                )
            )
        else:
            console.print(f"[bold red]failed:[/] {exc}", highlight=False, soft_wrap=True)
            console.print(f"details: polaretl show {exc.attrs().get('run_id')}")
        sys.exit(1)
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    else:
        out.print(result.summary(), highlight=False)
    sys.exit(0 if result.succeeded else 1)


def _run_with_progress(pipeline: Any, url: str, full_refresh: bool, *, quiet: bool) -> RunResult:
    if quiet or not console.is_terminal:
        return pipeline.run(database_url=url, full_refresh=full_refresh)  # type: ignore[no-any-return]
    started = time.perf_counter()
    totals = {"processed": 0, "loaded": 0, "rejected": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(pipeline.name, total=None, info="starting")

        def progress(event: dict[str, Any]) -> None:
            for key in totals:
                totals[key] += int(event.get(key, 0))
            rate = totals["processed"] / max(time.perf_counter() - started, 1e-9)
            bar.update(
                task,
                info=(
                    f"{totals['processed']:,} rows ({rate:,.0f} rows/s), loaded "
                    f"{totals['loaded']:,}, rejected {totals['rejected']:,} — {event['slice']}"
                ),
            )

        return pipeline.run(database_url=url, full_refresh=full_refresh, progress=progress)  # type: ignore[no-any-return]


def _run_on_celery(
    settings: _Settings,
    pipeline: Any,
    url: str,
    redis_url: str | None,
    full_refresh: bool,
    *,
    no_wait: bool,
    quiet: bool,
) -> RunResult | None:
    from polaretl.run import progress as live
    from polaretl.run.celery_app import ensure_configured
    from polaretl.run.dispatch import submit, wait

    app = ensure_configured(settings.root, redis_url)
    run_id = submit(
        pipeline.name,
        project=settings.root,
        database_url=url,
        redis_url=redis_url,
        full_refresh=full_refresh,
    )
    if no_wait:
        if quiet:
            out.print_json(json.dumps({"run_id": run_id, "status": RunStatus.RUNNING}))
        else:
            out.print(f"submitted run {run_id}; follow it with: polaretl show {run_id}")
        return None
    if quiet or not console.is_terminal:
        return wait(run_id, database_url=url)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{pipeline.name} (run {run_id})", total=None, info="queued")
        while True:
            try:
                return wait(run_id, timeout=0.5, database_url=url)
            except WaitTimeoutError:
                slices = live.read(app.conf.broker_url, run_id)
                rows = sum(s["processed"] for s in slices.values())
                bar.update(task, info=f"{rows:,} rows in {len(slices)} slices")


@main.command()
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues (default: all the workspace's pipelines' queues).",
)
@click.option(
    "--concurrency", type=PROCESSES, default=None, help="Worker processes (default: cores)."
)
@click.option("--loglevel", default="INFO", show_default=True)
@_redis
@_common
def worker(
    queues: str | None,
    concurrency: int | None,
    loglevel: str,
    project: str | None,
    database_url: str | None,
    redis_url: str | None,
) -> None:
    """A Celery worker for the workspace's pipelines."""
    from polaretl.run.celery_app import default_queue, ensure_configured

    settings = _Settings(project, database_url)
    try:
        root = settings.root
        pipelines = load_pipelines(root, strict=False)
        for problem in load_errors(root):
            console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
        # the worker's processes find the workspace and the database in their environment,
        # so tasks carry neither (nor any secret)
        os.environ["POLARETL_PROJECT"] = str(root)
        os.environ["POLARETL_DATABASE_URL"] = settings.url()
        app = ensure_configured(root, redis_url)
    except PolaretlError as exc:
        _fail(exc)
        return
    names = queues or ",".join(
        sorted({p.queue or default_queue() for p in pipelines.values()} | {default_queue()})
    )
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--queues={names}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname=polaretl-{os.getpid()}@%h",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
@_redis
@_common
def beat(
    loglevel: str, project: str | None, database_url: str | None, redis_url: str | None
) -> None:
    """The scheduler: starts runs of the workspace's pipelines that have a schedule."""
    from polaretl.run.beat import beat_schedule
    from polaretl.run.celery_app import ensure_configured

    settings = _Settings(project, database_url)
    try:
        root = settings.root
        schedule = beat_schedule(load_pipelines(root, strict=False).values())
        app = ensure_configured(root, redis_url)
    except PolaretlError as exc:
        _fail(exc)
        return
    app.conf.beat_schedule = schedule
    state = root / ".polaretl" / f"celerybeat-schedule-{os.getpid()}"
    state.parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"beat: {len(schedule)} scheduled pipeline(s): "
        + ", ".join(k.split(":", 1)[1] for k in schedule),
        highlight=False,
    )
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={state}"])


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """A new workspace in DIRECTORY with an example contract, connector and data."""
    try:
        made = init_workspace(directory)
    except PolaretlError as exc:
        _fail(exc)
        return
    out.print(f"created {directory} ({len(made)} files). Next:", highlight=False)
    out.print(f"  cd {directory} && polaretl run orders", highlight=False)


@main.command("app")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 shares the app (set a password).",
)
@click.option("--port", type=PORT, default=8501, show_default=True)
@click.option(
    "--password",
    default=lambda: current().app_password,
    help="Ask for this password before any page (prefer the env var).",
)
@_common
def app_(
    host: str, port: int, password: str | None, project: str | None, database_url: str | None
) -> None:
    """The Streamlit operations app: runs, quarantine, schemas, alerts."""
    from polaretl.app import launch  # streamlit is heavy: only for this command

    settings = _Settings(project, database_url)
    try:
        root = settings.root
        sys.exit(launch(root, settings.url(), host=host, port=port, password=password))
    except PolaretlError as exc:
        _fail(exc)


@main.command("list")
@click.option("--json", "as_json", is_flag=True)
@_common
def list_(as_json: bool, project: str | None, database_url: str | None) -> None:
    """The workspace's pipelines, their schedules and last status."""
    settings = _Settings(project, database_url)
    try:
        pipelines = load_pipelines(settings.root, strict=False)
        for problem in load_errors(settings.root):
            console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
        last: dict[str, tuple[Any, ...]] = {}
        if pipelines:
            with db.connect(settings.url(), autocommit=True) as conn:
                ensure_schema(conn)
                last = dict(run_records.last_of_each(conn))
    except PolaretlError as exc:
        _fail(exc)
        return
    items = [
        {
            "name": p.name,
            "source": p.extractor.describe(),
            "target": p.loader.describe(),
            "schedule": p.schedule,
            "last_run": last.get(p.name, (None,))[0],
            "last_status": last.get(p.name, (None, None))[1],
        }
        for p in sorted(pipelines.values(), key=lambda p: p.name)
    ]
    if as_json:
        out.print_json(json.dumps(items, default=str))
        return
    table = Table("pipeline", "source", "target", "schedule", "last run", "status")
    for i in items:
        table.add_row(
            *(
                escape(str(i[k])) if i[k] is not None else "-"
                for k in ("name", "source", "target", "schedule", "last_run", "last_status")
            )
        )
    out.print(table)


@main.command()
@click.argument("name", required=False)
@click.option("--limit", type=LIMIT, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_common
def runs(
    name: str | None, limit: int, as_json: bool, project: str | None, database_url: str | None
) -> None:
    """Run history, newest first (of pipeline NAME, or all)."""
    settings = _Settings(project, database_url)
    try:
        frame = api.runs(name, limit=limit, database_url=settings.url())
    except PolaretlError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(frame.to_dicts(), default=str))
        return
    table = Table(
        "run",
        "pipeline",
        "status",
        "started",
        "seconds",
        "processed",
        "valid",
        "rejected",
        "loaded",
    )
    for r in frame.to_dicts():
        seconds = json.loads(r["timings"] or "{}").get("total")
        table.add_row(
            str(r["run_id"]),
            escape(r["pipeline"]),
            _status(r["status"]),
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else "-",
            f"{seconds:.2f}" if seconds is not None else "-",
            *(f"{r[k]:,}" for k in ("processed", "valid", "rejected", "loaded")),
        )
    out.print(table)


@main.command()
@click.argument("run_id", type=ID)
@click.option("--json", "as_json", is_flag=True)
@_common
def show(run_id: int, as_json: bool, project: str | None, database_url: str | None) -> None:
    """One run: counts, stage timings, error."""
    settings = _Settings(project, database_url)
    try:
        with db.connect(settings.url(), autocommit=True) as conn:
            ensure_schema(conn)
            result = RunResult.fetch(conn, run_id)
            reasons = quarantine_records.reasons_of_run(conn, run_id)
            quality = run_quality(conn, run_id)
    except PolaretlError as exc:
        _fail(exc)
        return
    data = result.to_dict()
    data["rejections"] = [{"column": c, "check": k, "count": n} for c, k, n in reasons]
    data["quality"] = quality
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    out.print(f"[bold]run {result.run_id}[/] {result.pipeline} {_status(result.status)}")
    out.print(f"started {result.started_at}  finished {result.finished_at}")
    out.print(
        f"processed {result.processed:,}  valid {result.valid:,}  "
        f"rejected {result.rejected:,}  loaded {result.loaded:,}  batches {result.batches}"
    )
    if result.timings:
        out.print("seconds: " + "  ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
    if result.metrics:
        out.print("metrics: " + "  ".join(f"{k} {v}" for k, v in result.metrics.items()))
    for item in data["rejections"]:
        out.print(
            f"  rejected {item['count']:,}: {item['column'] or '-'} {item['check']}",
            highlight=False,
        )
    for line in quality_lines(quality):
        out.print(line, highlight=False)
    if result.error:
        out.print(f"[red]error:[/] {result.error}", highlight=False)


def _status(status: str) -> str:
    colours: dict[str, str] = {
        RunStatus.SUCCEEDED: "green",
        RunStatus.FAILED: "red",
        RunStatus.RUNNING: "yellow",
    }
    colour = colours.get(status, "white")
    return f"[{colour}]{status}[/]"


from polaretl.cli_quality import register as _register_quality  # noqa: E402

_register_quality(main)

if __name__ == "__main__":  # pragma: no cover
    main()

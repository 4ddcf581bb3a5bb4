"""A run spread over two worker hosts that share no disk, on network namespaces.

Hosts (one namespace each): ``pg`` (a PostgreSQL of its own), ``redis``, ``s3`` (moto),
``w1`` and ``w2`` (each with its own copy of the workspace code, in its own folder),
and ``client``. The data is 8 objects in S3, nowhere on disk. ``polaretl run
--executor celery`` from the client must give exactly the totals of a local run of
the same objects; then, with every process of ``w1`` SIGKILLed mid-run, the run must
still end exact: nothing lost, nothing doubled.

Run with ``make test-hosts``. Skips (saying why) where namespaces cannot be made.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import polars as pl
import pytest

from tests.faults import invariants
from tests.helpers import query
from tests.hosts.lab import Lab, unavailable

pytestmark = [pytest.mark.full, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

BUCKET = "polaretl-hosts"
OBJECTS, ROWS, BAD_EVERY = 8, 3_000, 500  # 48 rejected of 24,000

CONTRACT = """
import pandera.polars as pa


class Part(pa.DataFrameModel):
    part_id: int = pa.Field(unique=True)
    qty: int = pa.Field(ge=0)
    label: str
"""

CONNECTOR = '''
"""Parts from S3: the same objects for every host, the code copied to each."""

import os
import time

import polars as pl

import polaretl as pe
from contracts.parts import Part

SOURCE = os.environ["PARTS_URL"]


def slow(lf: pl.LazyFrame) -> pl.LazyFrame:
    """A pause per batch (HOSTS_SLOW seconds), so that a host can be killed mid-run; a
    mark per batch in the host's own folder (HOSTS_MARK), to tell which host worked."""
    time.sleep(float(os.environ.get("HOSTS_SLOW", "0")))
    if os.environ.get("HOSTS_MARK"):
        with open(os.environ["HOSTS_MARK"], "a") as mark:
            mark.write("batch\\n")
    return lf


parts = pe.Pipeline(
    "parts",
    extractor=pe.CsvExtractor(SOURCE),
    contract=Part,
    transforms=[slow],
    loader=pe.PostgresLoader("parts", key="part_id", mode="upsert"),
    chunk_size=250,
    concurrency=8,
)

parts_local = pe.Pipeline(
    "parts_local",
    extractor=pe.CsvExtractor(SOURCE),
    contract=Part,
    loader=pe.PostgresLoader("parts_local", key="part_id", mode="upsert"),
    chunk_size=250,
)
'''


def objects() -> dict[str, bytes]:
    """8 CSV objects; every `BAD_EVERY`-th row has a negative qty (quarantined)."""
    out = {}
    for f in range(OBJECTS):
        ids = pl.int_range(f * ROWS, (f + 1) * ROWS, eager=True)
        frame = pl.DataFrame({"part_id": ids}).select(
            "part_id",
            qty=pl.when(pl.col("part_id") % BAD_EVERY == 7).then(-1).otherwise(ids % 13),
            label="p" + pl.col("part_id").cast(pl.String),
        )
        out[f"parts/part_{f}.csv"] = frame.write_csv().encode()
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    why = unavailable()
    if why:
        pytest.skip(f"no multi-host lab here: {why}")
    lab = Lab(["pg", "redis", "s3", "w1", "w2", "client"])
    try:
        database = lab.postgres("pg")
        broker = lab.redis("redis")
        s3 = lab.s3("s3")
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        for key, data in objects().items():
            client.put_object(Bucket=BUCKET, Key=key, Body=data)
        template = tmp_path_factory.mktemp("template")
        (template / "contracts").mkdir()
        (template / "connectors").mkdir()
        (template / "contracts" / "parts.py").write_text(CONTRACT)
        (template / "connectors" / "parts.py").write_text(CONNECTOR)
        for part in ("contracts", "connectors"):
            (template / part / "__init__.py").write_text("")
        lab.env = {
            "POLARETL_DATABASE_URL": database,
            "POLARETL_REDIS_URL": broker,
            "POLARETL_VISIBILITY_TIMEOUT": "10",
            "PARTS_URL": f"s3://{BUCKET}/parts/*.csv",
            **s3.env(),
        }
        for host in ("w1", "w2", "client"):
            lab.host_workspace(host, template)
        yield lab
    finally:
        lab.close()


def workers(lab: Lab, queue: str, slow: str, database: str) -> dict[str, subprocess.Popen[bytes]]:
    """`polaretl worker` on w1 and w2, each from its own workspace copy."""
    procs = {}
    for host in ("w1", "w2"):
        ws = lab.workspaces[host]
        env = {
            "POLARETL_QUEUE": queue,
            "POLARETL_DATABASE_URL": database,
            "HOSTS_SLOW": slow,
            "HOSTS_MARK": str(ws.parent / f"batches-{queue[-6:]}"),
        }
        procs[host] = lab.polaretl(
            host, "worker", "--project", str(ws), "--concurrency", "2", extra_env=env,
            log=f"{host}-{queue[-6:]}",
        )  # fmt: skip
    for host, proc in procs.items():
        deadline = time.monotonic() + 90
        while b" ready." not in (lab.folder / f"{host}-{queue[-6:]}.log").read_bytes():
            assert proc.poll() is None, lab.log(f"{host}-{queue[-6:]}")[-3000:]
            assert time.monotonic() < deadline, "worker not ready"
            time.sleep(0.3)
    return procs


def start_run(lab: Lab, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``polaretl run ARGS --json`` on the client host; (process, log name)."""
    log = f"client-{uuid4().hex[:6]}"
    ws = lab.workspaces["client"]
    return lab.polaretl(
        "client", "run", *args, "--project", str(ws), "--json", extra_env=env, log=log
    ), log


def result(lab: Lab, proc: subprocess.Popen[bytes], log: str) -> dict[str, Any]:
    proc.wait(600)
    text = lab.log(log)
    assert proc.returncode == 0, text[-3000:]
    return dict(json.loads(text[text.index("{") :]))


def batches(lab: Lab, host: str, queue: str) -> int:
    mark = lab.workspaces[host].parent / f"batches-{queue[-6:]}"
    return len(mark.read_text().splitlines()) if mark.exists() else 0


def totals(url: str, table: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        f"SELECT count(*), count(DISTINCT part_id), sum(part_id), sum(qty), "
        f"md5(string_agg(part_id || ':' || qty || ':' || label, ',' ORDER BY part_id)) "
        f"FROM {table}",
    )


COUNTS = ("status", "processed", "valid", "rejected", "loaded")


def test_two_hosts_without_shared_disk_match_a_local_run_even_when_one_is_killed(
    lab: Lab,
) -> None:
    first_db = lab.env["POLARETL_DATABASE_URL"]
    local = result(lab, *start_run(lab, "parts_local", env={}))
    rows, bad = OBJECTS * ROWS, OBJECTS * ROWS // BAD_EVERY
    assert [local[k] for k in COUNTS] == ["succeeded", rows, rows - bad, bad, rows - bad]
    reference = totals(first_db, "parts_local")

    # 1. both hosts up: the same totals as the local run, row for row
    queue = f"polaretl-hosts-{uuid4().hex}"
    procs = workers(lab, queue, "0", first_db)
    env = {"POLARETL_QUEUE": queue}
    spread = result(lab, *start_run(lab, "parts", "--executor", "celery", env=env))
    assert [spread[k] for k in COUNTS] == [local[k] for k in COUNTS]
    assert totals(first_db, "parts") == reference
    assert batches(lab, "w1", queue) > 0 and batches(lab, "w2", queue) > 0  # both worked
    for proc in procs.values():
        proc.terminate()
        proc.wait(60)

    # 2. a database of its own, and w1 loses power mid-run: all its processes SIGKILLed
    query(first_db, "CREATE DATABASE killed")
    database = first_db.rsplit("/", 1)[0] + "/killed"
    queue = f"polaretl-hosts-{uuid4().hex}"
    workers(lab, queue, "0.15", database)
    env = {"POLARETL_QUEUE": queue, "POLARETL_DATABASE_URL": database}
    client, log = start_run(lab, "parts", "--executor", "celery", env=env)
    deadline = time.monotonic() + 120
    while True:  # until some batches are committed, with w1 mid-slice
        assert time.monotonic() < deadline and client.poll() is None, lab.log(log)[-3000:]
        time.sleep(0.2)
        if batches(lab, "w1", queue) >= 4 and query(
            database, "SELECT 1 FROM pg_tables WHERE tablename = 'checkpoints'"
        ):
            if query(database, "SELECT count(*) FROM polaretl.checkpoints")[0][0] >= 8:
                break
    killed = lab.kill_host("w1")
    assert killed and lab.pids("w1") == []
    after = result(lab, client, log)
    assert [after[k] for k in COUNTS] == [local[k] for k in COUNTS]
    assert totals(database, "parts") == reference
    redelivered = query(
        database,
        "SELECT count(*) FROM polaretl.slices WHERE run_id = %s AND attempts > 1",
        (after["run_id"],),
    )
    assert redelivered[0][0] >= 1, "w1 held no slice when it was killed"
    invariants.check(
        database,
        pipeline="parts",
        table="parts",
        key="part_id",
        source=invariants.Source(rows, bad),
    )

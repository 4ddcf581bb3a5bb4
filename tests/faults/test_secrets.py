"""Secrets never leave the process: not in run records, errors, logs or Redis."""

import logging

import psycopg
import pytest
import redis

import polaretl as pe
from contracts.orders import Order
from tests.helpers import ROOT, orders_csv, query

PASSWORD = "s3cr3t-Pa55word"


@pytest.fixture
def secret_url(database_url):
    """The test database, reached as a role with a password (trust auth ignores it, so
    the password still travels in the URL the way a real one would)."""
    role = "polaretl_secret_role"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    url = (
        f"postgresql://{role}:{PASSWORD}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{info['dbname']}"
    )
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_password_in_database_url_never_recorded(tmp_path, secret_url, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    orders_csv(tmp_path / "a.csv", 50, bad_every=10)
    good = pe.Pipeline(
        "ok",
        extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    )
    assert good.run(database_url=secret_url).loaded == 45
    # a failure whose message would naturally carry the URL
    bad = pe.Pipeline(
        "bad",
        extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
        contract=Order,
        transforms=[lambda lf: (_ for _ in ()).throw(RuntimeError(f"cannot reach {secret_url}"))],
        loader=pe.PostgresLoader("orders2"),
    )
    with pytest.raises(pe.RunFailedError) as info:
        bad.run(database_url=secret_url)
    assert PASSWORD not in str(info.value)
    dump = query(
        database_url,
        "SELECT coalesce(error, '') || coalesce(traceback, '') || "
        "metrics::text || timings::text FROM polaretl.runs",
    )
    assert dump and all(PASSWORD not in row[0] for row in dump)
    assert "***" in "".join(row[0] for row in dump)  # the URL is there, masked
    for table in ("quarantine", "checkpoints", "slices"):
        text = query(
            database_url, f"SELECT coalesce(string_agg(t::text, ''), '') FROM polaretl.{table} t"
        )[0][0]
        assert PASSWORD not in text
    assert PASSWORD not in caplog.text


def test_celery_messages_carry_no_secret(tmp_path, secret_url, redis_url, monkeypatch):
    import shutil

    from polaretl.run.celery_app import configure

    ws = tmp_path / "ws"
    shutil.copytree(
        ROOT / "tests" / "run" / "celery_ws", ws, ignore=shutil.ignore_patterns("__pycache__")
    )
    orders_dir = ws / "data" / "parts"
    orders_dir.mkdir(parents=True)
    (orders_dir / "p.csv").write_text("part_id,qty,label\n1,1,a\n")
    url = redis_url.rsplit("/", 1)[0] + "/12"
    client = redis.Redis.from_url(url)
    client.flushdb()
    configure(url)
    run_id = pe.submit("parts", project=ws, database_url=secret_url)  # no worker: queued
    assert run_id
    blobs = []
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"list":
            blobs += client.lrange(key, 0, -1)
        elif kind == b"string":
            blobs.append(client.get(key))
        elif kind == b"hash":
            blobs += list(client.hgetall(key).values())
    assert blobs, "the task messages should be in Redis"
    assert not any(PASSWORD.encode() in b for b in blobs)
    client.flushdb()

"""Secrets never leave the process: not in run records, errors, logs or Redis.

A database password in the URL; REST credentials (a key pasted into the URL, an API key
in the query or a header, a bearer token) in passing and failing runs, checked in the
raised error, every table of the database, the log, the CLI's output, an alert webhook's
payload, Redis and a worker's log under Celery, and the ops app's rendered HTML.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import psycopg
import pytest
import redis

import polaretl as pe
from contracts.orders import Order
from tests.alerts.conftest import Receiver, _Handler
from tests.faults import invariants
from tests.helpers import ROOT, orders_csv, query

PASSWORD = "s3cr3t-Pa55word"
REDIS_DB = 13  # this file's Redis database, flushed before use


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


@pytest.mark.postgres
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


@pytest.mark.postgres
@pytest.mark.redis
def test_celery_messages_carry_no_secret(tmp_path, secret_url, redis_url, monkeypatch):
    from polaretl.run.celery_app import configure

    ws = tmp_path / "ws"
    shutil.copytree(
        ROOT / "tests" / "run" / "celery_ws", ws, ignore=shutil.ignore_patterns("__pycache__")
    )
    orders_dir = ws / "data" / "parts"
    orders_dir.mkdir(parents=True)
    (orders_dir / "p.csv").write_text("part_id,qty,label\n1,1,a\n")
    url = f"{redis_url.rsplit('/', 1)[0]}/{REDIS_DB}"
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


# --- REST credentials: in the URL's query, in a header --------------------------------------

# one key per pipeline: a key registered as a secret by one must not hide another's leak
KEYS = {
    name: f"k3y-{name.replace('_', '-')}-7d1e4c"
    for name in ("in_url", "in_query", "bearer", "in_header")
}

# A workspace whose connectors read an API the way users write them: the key pasted into
# the URL, sent by ApiKeyAuth in the query, as a bearer token, or as a raw header. Every
# pipeline sends its alerts to a webhook (the receiver below).
CONNECTOR = """
import os

import polaretl as pe
from contracts.customers import Customer
from polaretl.alerts import FailureRate, RunFailed, Webhook
from polaretl.extract.rest import (
    ApiKeyAuth, BearerAuth, CursorPaginator, NextUrlPaginator, RestExtractor,
)

BASE = os.environ["SECRETS_API_BASE"]
HOOK = Webhook(os.environ["SECRETS_HOOK_URL"], timeout=5)
FAST = {"backoff": 0.01, "max_backoff": 0.02, "timeout": 5.0, "max_attempts": 3}
CURSOR = {"records_path": "items", "paginator": CursorPaginator("meta.next_cursor")}


def pipeline(name, extractor):
    return pe.Pipeline(
        name,
        extractor=extractor,
        contract=Customer,
        loader=pe.PostgresLoader(name, key="customer_id", mode="upsert"),
        chunk_size=20,
        alerts=[RunFailed(cooldown=0), FailureRate(above=0.0, cooldown=0), HOOK],
    )


# pasted into the URL; the API echoes it into its next-page URLs
in_url = pipeline(
    "in_url",
    RestExtractor(
        f"{BASE}/next?limit=20&api_key={os.environ['SECRETS_KEY_IN_URL']}",
        records_path="data",
        paginator=NextUrlPaginator("links.next"),
        **FAST,
    ),
)
in_query = pipeline(
    "in_query",
    RestExtractor(
        f"{BASE}/cursor",
        params={"limit": 20},
        auth=ApiKeyAuth("appid", value_env="SECRETS_KEY_IN_QUERY", location="query"),
        **CURSOR,
        **FAST,
    ),
)
bearer = pipeline(
    "bearer",
    RestExtractor(
        f"{BASE}/cursor",
        params={"limit": 20},
        auth=BearerAuth(token_env="SECRETS_KEY_BEARER"),
        **CURSOR,
        **FAST,
    ),
)
in_header = pipeline(
    "in_header",
    RestExtractor(
        f"{BASE}/cursor",
        params={"limit": 20},
        headers={"X-API-Key": os.environ["SECRETS_KEY_IN_HEADER"]},
        **CURSOR,
        **FAST,
    ),
)
"""

# pipeline -> what the server wants to see
REQUIRE: dict[str, tuple[str, ...]] = {
    "in_url": ("query", "api_key", KEYS["in_url"]),
    "in_query": ("query", "appid", KEYS["in_query"]),
    "bearer": ("bearer", KEYS["bearer"]),
    "in_header": ("header", "X-API-Key", KEYS["in_header"]),
}


@pytest.fixture
def hook():
    """A webhook receiver (tests/alerts' handler) collecting the alerts' POSTs."""
    receiver = Receiver(url="")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_Handler,), {"receiver": receiver})
    )
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def api():
    """The API: 50 customers, two of them bad (a non-integer id, a null name)."""
    from tests.extract.restserver import RestServer, customers

    records = customers(50)
    records[4]["customer_id"] = "abc"
    records[30]["name"] = None
    with RestServer(records) as server:
        yield server


@pytest.fixture
def api_workspace(tmp_path, api, hook, monkeypatch):
    """The workspace above, its environment set for this process (and returned for
    subprocesses)."""
    ws = tmp_path / "apiws"
    (ws / "connectors").mkdir(parents=True)
    (ws / "contracts").mkdir()
    shutil.copy(ROOT / "contracts" / "customers.py", ws / "contracts" / "customers.py")
    (ws / "contracts" / "__init__.py").write_text("")
    (ws / "connectors" / "__init__.py").write_text("")
    (ws / "connectors" / "api.py").write_text(CONNECTOR)
    env = {
        "SECRETS_API_BASE": api.url(""),
        **{f"SECRETS_KEY_{name.upper()}": key for name, key in KEYS.items()},
        "SECRETS_HOOK_URL": hook.url + "/hooks/etl",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ws, env


def everything_recorded(url: str) -> str:
    """Every row of every table in the database (polaretl's records, the targets), as text."""
    tables = query(
        url,
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
        "FROM information_schema.tables WHERE table_schema IN ('polaretl', 'public') "
        "AND table_type = 'BASE TABLE'",
    )
    assert any(t[0] == "polaretl.runs" for t in tables)
    return "\n".join(
        query(url, f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {t[0]} t")[0][0]
        for t in tables
    )


def assert_no_key(where: str, text: str) -> None:
    from urllib.parse import quote

    for key in KEYS.values():
        for form in {key, quote(key, safe="")}:
            assert form not in text, f"an API key leaked into {where}:\n{text[-3000:]}"


def posted(hook) -> str:
    return json.dumps([p["json"] for p in hook.posts]) + json.dumps([p["path"] for p in hook.posts])


def load(ws):
    from polaretl.workspace import load_pipelines

    return load_pipelines(ws)


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(REQUIRE))
def test_rest_credentials_never_recorded_in_a_passing_run(
    name, api, api_workspace, hook, database_url, caplog
):

    caplog.set_level(logging.DEBUG)
    ws, _ = api_workspace
    api.require = REQUIRE[name]
    result = load(ws)[name].run(database_url=database_url)
    assert (result.status, result.processed, result.loaded) == ("succeeded", 50, 48)
    assert all(api.require[-1] in str(r.query) + str(r.headers) for r in api.requests())
    assert hook.posts, "FailureRate(above=0) should have posted an alert"
    assert_no_key("the run's records", everything_recorded(database_url))
    assert_no_key("the webhook payload", posted(hook))
    assert_no_key("the log", caplog.text)
    _invariants_hold(database_url, name)


def wrong(require: tuple[str, ...]) -> tuple[str, ...]:
    """The same credential check, wanting another key: the API answers 401."""
    return (*require[:-1], "an0ther-key-the-API-wants")


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["500_forever", "401"])
@pytest.mark.parametrize("name", list(REQUIRE))
def test_rest_credentials_never_recorded_in_a_failing_run(
    name, failure, api, api_workspace, hook, database_url, caplog
):
    """The API fails: 500 forever after two pages (the first one committed: a page is
    held until the next arrives), or it refuses the key with a 401 whose body repeats
    it. Then it recovers, and a rerun resumes from the stored position, key re-sent."""

    caplog.set_level(logging.DEBUG)
    ws, _ = api_workspace
    path = "/next" if name == "in_url" else "/cursor"
    if failure == "401":
        api.require, api.echo_credentials = wrong(REQUIRE[name]), True
    else:
        api.require = REQUIRE[name]
        api.fault(path, "status", times=None, after=2, status=500)
    pipeline = load(ws)[name]
    with pytest.raises(pe.RunFailedError) as info:
        pipeline.run(database_url=database_url)
    error = str(info.value)
    assert ("HTTP 401" if failure == "401" else "HTTP 500") in error
    assert api.url(path) in error  # it names the URL...
    assert_no_key("the raised error", error + repr(info.value))  # ...without the key
    if failure == "401":
        assert KEYS[name] in json.dumps([r.query | r.headers for r in api.requests()]), (
            "the API was sent the key, and its 401 repeats it"
        )
    assert any(p["json"]["rule"] == "RunFailed()" for p in hook.posts)
    assert_no_key("the run's records", everything_recorded(database_url))
    assert_no_key("the webhook payload", posted(hook))
    assert_no_key("the log", caplog.text)

    # the API recovers: the rerun resumes after the committed pages, key and all
    api.faults.clear()
    api.require = REQUIRE[name]
    sent = len(api.requests())
    again = pipeline.run(database_url=database_url)
    assert again.status == "succeeded"  # every request had the key (else: 401)
    resumed = api.requests()[sent].query
    if failure == "500_forever":  # after page 1, the position's next page
        assert resumed.get("cursor", resumed.get("after")) in ("c20", "20"), resumed
    assert_no_key("the run's records", everything_recorded(database_url))
    assert_no_key("the log", caplog.text)
    _invariants_hold(database_url, name)


def polaretl_cli(ws, env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polaretl.cli", *args, "--project", str(ws)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("name", list(REQUIRE))
def test_rest_credentials_never_printed_by_the_cli(name, api, api_workspace, hook, database_url):
    """`polaretl run` failing (500 forever after two pages), `polaretl show` of that run,
    then `polaretl run` passing once the API is back: nothing prints a key."""

    ws, env = api_workspace
    env = {**env, "POLARETL_DATABASE_URL": database_url}
    api.require = REQUIRE[name]
    api.fault("/next" if name == "in_url" else "/cursor", "status", times=None, after=2)
    failed = polaretl_cli(ws, env, "run", name)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "HTTP 500" in failed.stdout + failed.stderr
    assert "retry" in failed.stderr  # the retries were logged (warnings go to stderr)
    (run_id,) = query(database_url, "SELECT max(run_id) FROM polaretl.runs")[0]
    shown = polaretl_cli(ws, env, "show", str(run_id))
    assert shown.returncode == 0 and "HTTP 500" in shown.stdout, shown.stdout + shown.stderr
    api.faults.clear()
    passed = polaretl_cli(ws, env, "run", name, "--json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads(passed.stdout)["status"] == "succeeded"
    for proc, what in ((failed, "failing"), (shown, "show"), (passed, "passing")):
        assert_no_key(f"the {what} CLI's stdout", proc.stdout)
        assert_no_key(f"the {what} CLI's stderr", proc.stderr)
    assert_no_key("the run's records", everything_recorded(database_url))
    assert_no_key("the webhook payload", posted(hook))
    _invariants_hold(database_url, name)


def redis_dump(client: redis.Redis) -> str:
    """Every key and value in the client's database, as text."""
    out = []
    for key in client.keys("*"):
        kind = client.type(key).decode()
        value: object
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_rest_credentials_stay_out_of_redis_and_worker_logs(
    api, api_workspace, hook, database_url, redis_url, monkeypatch
):
    """Each pipeline run on a real `polaretl worker`: failing (500 forever after two
    pages), then passing. Nothing in Redis, the worker's log or the records has a key."""
    from uuid import uuid4

    from polaretl.run.celery_app import configure
    from tests.run.test_celery import Workers

    ws, env = api_workspace
    url = f"{redis_url.rsplit('/', 1)[0]}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    env = {
        **os.environ,
        **env,
        "POLARETL_DATABASE_URL": database_url,
        "POLARETL_REDIS_URL": url,
        "POLARETL_PROJECT": str(ws),
        "POLARETL_QUEUE": f"polaretl-secrets-{uuid4().hex}",
    }
    for key in ("POLARETL_DATABASE_URL", "POLARETL_REDIS_URL", "POLARETL_QUEUE"):
        monkeypatch.setenv(key, env[key])
    configure(url)
    workers = Workers(ws, env)
    try:
        workers.start("--concurrency", "1")
        for name in REQUIRE:
            api.require = REQUIRE[name]
            api.fault("/next" if name == "in_url" else "/cursor", "status", times=None, after=2)
            failed = pe.wait(pe.submit(name, project=ws), timeout=120)
            assert failed.status == "failed" and "HTTP 500" in (failed.error or "")
            api.faults.clear()
            passed = pe.wait(pe.submit(name, project=ws), timeout=120)
            assert passed.status == "succeeded", passed.error
            _invariants_hold(database_url, name)
        dump = redis_dump(client)
        assert "polaretl" in dump and "celery" in dump  # progress, messages, results
        assert_no_key("Redis", dump)
    finally:
        workers.stop_all()
        client.flushdb()
    log = "".join(p.read_text() for p in ws.glob("worker-*.log"))
    assert "HTTP 500" in log and "retry" in log  # the failures were logged...
    assert "HTTP Request: GET" in log  # and httpx logged each request (at INFO)
    assert_no_key("the worker's log", log)  # ...without a key
    assert_no_key("the run's records", everything_recorded(database_url))
    assert_no_key("the webhook payload", posted(hook))


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")
def test_rest_credentials_never_shown_by_the_ops_app(
    api, api_workspace, hook, database_url, tmp_path
):
    """Every pipeline fails (500 forever after two pages; the header one also with a
    401 repeating its key); the app, served and rendered in Chromium, shows the runs,
    each failed run's detail (error, traceback, alerts), the quarantine and the alerts."""
    from polaretl import app
    from tests.app.browser import Browser
    from tests.app.conftest import free_port
    from tests.app.test_app import wait_healthy

    ws, _ = api_workspace
    pipelines = load(ws)
    failed = []
    for name in REQUIRE:
        api.require = REQUIRE[name]
        api.fault("/next" if name == "in_url" else "/cursor", "status", times=None, after=2)
        with pytest.raises(pe.RunFailedError) as info:
            pipelines[name].run(database_url=database_url)
        failed.append(info.value.run_id)
        api.faults.clear()
    api.require, api.echo_credentials = wrong(REQUIRE["in_header"]), True
    with pytest.raises(pe.RunFailedError, match="HTTP 401") as info:
        pipelines["in_header"].run(database_url=database_url)
    failed.append(info.value.run_id)

    port = free_port()
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        proc = app.start(ws, database_url, port=port, stdout=out, stderr=subprocess.STDOUT)
    pages = []
    try:
        wait_healthy(proc, port, log)
        with Browser() as browser:
            base = f"http://127.0.0.1:{port}"
            browser.open(f"{base}/runs")
            browser.wait_for("Runs", f"{len(failed)} runs")
            pages.append(browser.dom())
            for run_id in failed:
                browser.open(f"{base}/run?run={run_id}")
                text = browser.wait_for("Alerts fired", "Traceback", f"run {run_id} failed")
                assert "HTTP 500" in text or "HTTP 401" in text
                browser.evaluate(  # open the traceback
                    "[...document.querySelectorAll('summary')].forEach(s => s.click())"
                )
                time.sleep(0.5)
                pages.append(browser.dom())
            for path, title in (("quarantine", "Quarantine"), ("alerts", "Rules")):
                browser.open(f"{base}/{path}")
                browser.wait_for(title)
                pages.append(browser.dom())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    html = "\n".join(pages)
    assert "api_key=***" in html  # the in_url run's error names its URL, masked
    assert_no_key("the app's HTML", html)
    assert_no_key("the app's log", log.read_text())


def _invariants_hold(url: str, name: str) -> None:
    """A-D for the API pipelines: 50 customers, 2 of them bad."""
    invariants.check(
        url,
        pipeline=name,
        table=name,
        key="customer_id",
        source=invariants.Source(records=50, bad=2),
    )

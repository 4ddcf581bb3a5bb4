"""The ops app: its data functions, every page (Streamlit's AppTest) on a database with
real runs, "Run now", the password gate, and the app served and loaded in Chromium."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from polaretl import app
from polaretl.app import actions, data
from tests.app.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
ALERTS = [  # what the seeded runs fire, sorted
    "FailureRate(above=0.05)",
    "FailureRate(above=0.05)",
    "RunFailed()",
    "SchemaChange()",
    "VolumeDrop(below=0.5, runs=5)",
]
MAIN = str(app.MAIN)


def page(name: str) -> AppTest:
    """One page of the app on its own, as Streamlit would run it."""
    return AppTest.from_string(
        f"from polaretl.app.{name} import render\nrender()\n", default_timeout=60
    )


def column(at: AppTest, index: int, name: str) -> list:
    return list(at.dataframe[index].value[name])


def rows(at: AppTest, index: int) -> list[tuple]:
    """A table's rows as tuples, missing values as None."""
    frame = at.dataframe[index].value
    return [tuple(None if v != v else v for v in row) for row in frame.itertuples(index=False)]


def texts(at: AppTest) -> str:
    """Every text the page shows (markdown, captions, alerts, titles)."""
    parts = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
    ):
        parts.extend(str(e.value) for e in at.get(kind))
    return "\n".join(parts)


# data.py: plain functions, no Streamlit


def test_data_functions(app_db):
    url, ids = app_db
    summary = data.pipelines(url, known=["orders", "never_run"])
    rows = {r["pipeline"]: r for r in summary.to_dicts()}
    assert set(rows) == {"events", "legacy", "never_run", "orders"}
    assert (rows["orders"]["runs"], rows["orders"]["loaded"], rows["orders"]["rejected"]) == (
        2,
        142,
        22,
    )
    assert rows["orders"]["rejection_rate"] == pytest.approx(22 / 164)
    assert (rows["legacy"]["last_status"], rows["legacy"]["success_rate"]) == ("failed", 0.0)
    assert rows["never_run"]["last_status"] is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert data.pipelines(url, since=later)["runs"].to_list() == [0, 0, 0]
    assert data.runs(url, status="failed")["pipeline"].to_list() == ["legacy"]
    assert data.runs(url, pipeline="events")["processed"].to_list() == [90, 280, 320, 300]
    assert data.series(url, pipeline="events")["loaded"].to_list()[-1] < 90
    stages = data.stage_timings(url, ids["orders"])
    assert stages["stage"].to_list()[:5] == list(data.STAGES)
    reasons = data.rejections(url, run_id=ids["orders"])
    assert reasons["count"].sum() == 11
    # orders ran twice over the same files: the second run's copies supersede the first's,
    # so each bad record is pending once
    by_reason = data.quarantine_reasons(url, pipeline="orders")
    assert by_reason.filter(by_reason["check"] == "field_uniqueness")["records"].to_list() == [2]
    dupes = data.quarantine_records(url, pipeline="orders", reason=("order_id", "field_uniqueness"))
    assert dupes.height == 2 and all("field_uniqueness" in m for m in dupes["messages"])
    malformed = data.quarantine_records(url, pipeline="orders", reason=(None, "csv_format"))
    assert malformed.height == 2
    fired = data.alerts(url)
    assert sorted(fired["rule"].to_list()) == ALERTS
    assert fired.filter(fired["pipeline"] == "legacy")["failed_channels"].to_list() == [1]
    versions = data.schema_versions(url, pipeline="events")  # written by drift detection
    assert versions["version"].to_list() == [2, 1]
    assert versions["run_id"].to_list() == [ids["events"], ids["events"] - 3]
    diff = data.schema_diff(versions["columns"][1], versions["columns"][0])
    assert diff.rows() == [("channel", "added", None, "text")]


# every page, through AppTest


def test_overview_page(app_env):
    at = page("overview").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pipelines"] == "3" and metrics["Runs"] == "7"
    assert metrics["Success rate"] == "85.7%"  # 6 of 7 runs succeeded
    assert column(at, 0, "pipeline") == ["events", "legacy", "orders"]
    assert column(at, 0, "last status") == ["✓ succeeded", "✗ failed", "✓ succeeded"]
    charts = at.get("vega_lite_chart")  # rows loaded, rejection rate: a line per pipeline
    assert len(charts) == 2
    assert '"field": "loaded"' in charts[0].proto.spec.replace('":"', '": "')
    assert '"field": "rejection_rate"' in charts[1].proto.spec.replace('":"', '": "')
    at.selectbox(key="overview_window").select("last 24 hours").run()
    assert {m.label: m.value for m in at.metric}["Runs"] == "7"


def test_runs_page_filters(app_env):
    at = page("runs").run()
    assert not at.exception
    assert len(column(at, 0, "pipeline")) == 7
    at.selectbox(key="runs_status").select("failed").run()
    assert column(at, 0, "pipeline") == ["legacy"]
    at.selectbox(key="runs_status").select("any status").run()
    at.selectbox(key="runs_pipeline").select("events").run()
    assert column(at, 0, "processed") == [90, 280, 320, 300]
    assert column(at, 0, "run")[0] == f"./run?run={app_env['events']}"


def test_run_detail_page(app_env):
    at = page("run_detail")
    at.query_params["run"] = str(app_env["orders"])
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Processed"], metrics["Rejected"], metrics["Loaded"]) == ("82", "11", "71")
    assert len(at.get("vega_lite_chart")) == 1  # seconds per stage
    assert ("order_id", "field_uniqueness", 2) in rows(at, 0)
    assert column(at, 1, "version") == [2, 1]  # versions this run recorded (file 2: +channel)
    assert column(at, 2, "rule") == ["FailureRate(above=0.05)"]
    # a failed run: its error, and the channel that failed (its secret token masked)
    at.selectbox(key="detail_run").select(app_env["legacy"]).run()
    shown = texts(at)
    assert "GET https://legacy.example/export: 503 Service Unavailable" in shown
    assert "channel webhook:http://127.0.0.1:" in shown and "ConnectError" in shown
    assert "s3cr3t" not in shown + str(at.dataframe[0].value.to_dict())
    assert at.query_params["run"] in (str(app_env["legacy"]), [str(app_env["legacy"])])


@pytest.mark.parametrize("asked", ["\u00b2", "99999999999999999999", "1e3", "-4", "x"])
def test_run_detail_page_ignores_a_run_parameter_that_is_no_run_id(app_env, asked):
    at = page("run_detail")
    at.query_params["run"] = asked
    at.run()
    assert not at.exception  # ?run=\u00b2 passed str.isdigit and then failed in int()
    assert at.selectbox(key="detail_run").value == max(app_env.values())  # the latest run


def test_quarantine_page(app_env):
    at = page("quarantine").run()
    assert not at.exception
    reasons = at.dataframe[0].value
    assert reasons["records"].sum() >= 20
    at.selectbox(key="q_pipeline").select("orders").run()
    at.selectbox(key="q_reason").select("order_id · field_uniqueness").run()
    assert len(column(at, 1, "id")) == 2  # pending once, though orders ran twice
    raw = at.json[0].value
    assert '"order_id"' in raw and '"channel"' in raw  # the raw record, extra column kept
    assert "field_uniqueness" in at.json[1].value
    assert at.multiselect(key="q_selected") is not None
    assert (
        list(at.data_editor(key="q_editor").value["_quarantine_id"])
        == list(column(at, 1, "id"))[::-1]
    )  # the editor lists the same records, oldest first


@pytest.fixture
def orders_only(monkeypatch, workspace, database_url):
    """A fresh database with one run of the example orders (replays change it)."""
    from polaretl.workspace import load_pipelines

    load_pipelines(workspace)["orders"].run(database_url=database_url)
    monkeypatch.setenv("POLARETL_DATABASE_URL", database_url)
    monkeypatch.setenv("POLARETL_APP_PROJECT", str(workspace))
    return database_url


def test_quarantine_edit_replay_and_discard(orders_only):
    url = orders_only
    at = page("quarantine").run()
    at.selectbox(key="q_pipeline").select("orders").run()
    at.selectbox(key="q_reason").select("amount · greater_than_or_equal_to(0)").run()
    editor = at.data_editor(key="q_editor").value
    assert [float(a) for a in editor["amount"]] == [-3.5]
    record = int(editor["_quarantine_id"].iloc[0])
    # edit the amount in the table, then replay the edited row
    at.session_state["q_editor"] = {
        "edited_rows": {0: {"amount": "3.5"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="q_edited").click().run()
    assert not at.exception and "loaded 1" in texts(at), texts(at)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT status FROM polaretl.quarantine WHERE id = %s", (record,)
        ).fetchone() == ("replayed",)
        assert conn.execute(
            "SELECT amount FROM orders WHERE _polaretl_source = %s", (f"quarantine:{record}",)
        ).fetchone() == (3.5,)
    # discard the two bad statuses with a reason
    at.selectbox(key="q_reason").select("status · isin(['new', 'paid', 'shipped'])").run()
    ids = [int(i) for i in column(at, 1, "id")]
    assert len(ids) == 2
    at.multiselect(key="q_selected").select(ids[0]).select(ids[1]).run()
    at.text_input(key="q_reason_text").input("statuses from the old shop").run()
    at.button(key="q_discard").click().run()
    assert "Discarded 2 records." in texts(at)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT DISTINCT status, discard_reason FROM polaretl.quarantine WHERE id = ANY(%s)",
            (ids,),
        ).fetchall() == [("discarded", "statuses from the old shop")]
    # replaying a record as stored that is still invalid leaves it pending
    at.selectbox(key="q_reason").select("customer_id · greater_than(0)").run()
    (still_bad,) = [int(i) for i in column(at, 1, "id")]
    at.multiselect(key="q_selected").select(still_bad).run()
    at.button(key="q_replay").click().run()
    assert "loaded 0" in texts(at)
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "SELECT status FROM polaretl.quarantine WHERE id = %s", (still_bad,)
        ).fetchone() == ("pending",)


def test_changed_rows_finds_edits_only():
    import polars as pl

    before = pl.DataFrame({"_quarantine_id": [1, 2, 3], "a": ["x", None, "z"]})
    after = pl.DataFrame({"_quarantine_id": [1, 2, 3], "a": ["x", "y", "z"]})
    assert actions.changed_rows(before, after, "_quarantine_id").rows() == [(2, "y")]
    assert actions.changed_rows(before, before, "_quarantine_id").height == 0


def test_schemas_page(app_env):
    at = page("schemas").run()
    assert not at.exception
    assert column(at, 0, "version") == [2, 1, 4, 3, 2, 1]  # events, then orders
    assert rows(at, 1) == [
        ("channel", "added", None, "text"),
    ]
    at.selectbox(key="from_orders").select(2).run()
    at.selectbox(key="to_orders").select(3).run()
    assert ("channel", "removed", "text", None) in rows(at, 3)  # [2]: events columns
    at.selectbox(key="from_events").select(2).run()
    assert "No difference in columns or types." in texts(at)


def test_alerts_page(app_env):
    at = page("alerts").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Alerts"], metrics["With a failed channel"]) == ("5", "1")
    fired = at.dataframe[0].value
    assert sorted(fired["rule"]) == ALERTS
    legacy = fired[fired["pipeline"] == "legacy"]["channels"].iloc[0]
    assert legacy.startswith("log ✓ · webhook:http://127.0.0.1:") and "✗ ConnectError" in legacy
    rules = at.dataframe[1].value
    assert set(rules["rule"]) == set(ALERTS)
    assert "s3cr3t" not in fired.to_string() + rules.to_string()
    at.selectbox(key="alerts_pipeline").select("events").run()
    assert list(at.dataframe[0].value["rule"]) == [
        "SchemaChange()",
        "VolumeDrop(below=0.5, runs=5)",
    ]


def test_main_navigation_and_sidebar(app_env):
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    assert "Run now" in [s.value for s in at.sidebar.subheader]


def test_password_gate(app_env, monkeypatch):
    monkeypatch.setenv("POLARETL_APP_PASSWORD", "open sesame")
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert [t.value for t in at.title] == ["polaretl"] and not at.metric
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert "Wrong password." in [e.value for e in at.error]
    at.text_input[0].input("open sesame")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Overview"]


def test_failed_sign_ins_back_off_per_client_and_are_logged(app_env, monkeypatch, caplog):
    from polaretl.app import guard

    now = [1000.0]
    monkeypatch.setattr(guard, "GUARD", guard.SignInGuard(clock=lambda: now[0]))
    monkeypatch.setenv("POLARETL_APP_PASSWORD", "open sesame")
    caplog.set_level("WARNING", logger="polaretl.app")
    at = AppTest.from_file(MAIN, default_timeout=60).run()

    def sign_in(password: str) -> list[str]:
        at.text_input[0].input(password)
        at.button[0].click().run()
        return [e.value for e in at.error]

    for n in range(1, 5):  # three typos are free; the fourth failure starts the backoff
        assert sign_in(f"guess {n}") == ["Wrong password."]
    # the right password, sent before the wait is over, is not even compared
    assert sign_in("open sesame") == ["Too many failed sign-ins: try again in 1 s."]
    assert [t.value for t in at.title] == ["polaretl"] and not at.metric
    now[0] += 1.0
    assert sign_in("guess 5") == ["Wrong password."]  # five in a row: now 2 s
    assert sign_in("open sesame") == ["Too many failed sign-ins: try again in 2 s."]
    now[0] += 2.0
    sign_in("open sesame")
    assert [t.value for t in at.title] == ["Overview"]
    lines = [r.getMessage() for r in caplog.records if r.name == "polaretl.app"]
    assert len(lines) == 7 and all("from this machine at 20" in line for line in lines)
    assert [line.split(" (")[1] for line in lines] == [
        "1 in a row; next attempt allowed in 0 s)",
        "2 in a row; next attempt allowed in 0 s)",
        "3 in a row; next attempt allowed in 0 s)",
        "4 in a row; next attempt allowed in 1 s)",
        "4 failed in a row; next attempt allowed in 1 s)",
        "5 in a row; next attempt allowed in 2 s)",
        "5 failed in a row; next attempt allowed in 2 s)",
    ]
    assert "sesame" not in caplog.text and "guess" not in caplog.text
    assert guard.GUARD.wait("this machine") == 0.0  # the right password cleared the count


@pytest.mark.slow
def test_run_now_starts_a_detached_run(monkeypatch, workspace, database_url):
    monkeypatch.setenv("POLARETL_DATABASE_URL", database_url)
    monkeypatch.setenv("POLARETL_APP_PROJECT", str(workspace))
    at = page("runnow").run()
    assert not at.exception
    at.selectbox(key="run_now_pipeline").select("orders").run()
    assert at.radio(key="run_now_executor").value == "local"
    at.button(key="run_now_button").click().run()
    launch, run_id = at.session_state["polaretl_launch"]
    try:
        assert not at.exception and run_id is not None
        assert f"orders: run {run_id} started." in texts(at)
        deadline = time.monotonic() + 60
        while actions.is_alive(launch.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT status, processed, pid FROM polaretl.runs WHERE run_id = %s", (run_id,)
            ).fetchone()
        assert row == ("succeeded", 82, launch.pid)
    finally:
        if actions.is_alive(launch.pid):
            os.kill(launch.pid, 15)


def test_run_now_shows_why_a_run_did_not_start(monkeypatch, workspace, database_url):
    monkeypatch.setenv("POLARETL_DATABASE_URL", database_url)
    monkeypatch.setenv("POLARETL_APP_PROJECT", str(workspace))
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('polaretl:run:orders', 0))")
        at = page("runnow").run()
        at.selectbox(key="run_now_pipeline").select("orders").run()
        at.button(key="run_now_button").click().run()
        launch, run_id = at.session_state["polaretl_launch"]
        assert run_id is None and not actions.is_alive(launch.pid)
        assert "the run did not start" in texts(at)
        assert "already running" in at.code[0].value


def test_launch_command_binds_localhost_and_keeps_secrets_off_argv(tmp_path):
    url = "postgresql://etl:pw0rd@db.internal/etl"
    argv, env = app.command(tmp_path, url, password="hunter22")
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert "pw0rd" not in " ".join(argv) and "hunter22" not in " ".join(argv)
    assert env["POLARETL_DATABASE_URL"] == url and env["POLARETL_APP_PASSWORD"] == "hunter22"
    assert env["POLARETL_APP_PROJECT"] == str(tmp_path.resolve())


# the real thing: the app served over HTTP and rendered by a browser


def wait_healthy(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                if r.read() == b"ok":
                    return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"the app did not answer in {timeout} s"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_app_served_and_rendered_in_chromium(app_db, workspace, tmp_path):
    from tests.app.browser import Browser

    url, ids = app_db
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        proc = app.start(workspace, url, port=port, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(proc, port, log)
        with Browser() as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            page_text = browser.wait_for("Overview", "Rows loaded per run", "legacy")
            for name in ("orders", "events", "Run now", "Success rate"):
                assert name in page_text
            assert "<canvas" in browser.dom() or "<svg" in browser.dom()  # the charts
            browser.open(f"http://127.0.0.1:{port}/run?run={ids['legacy']}")
            detail = browser.wait_for("Seconds per stage", "Alerts fired")
            assert "503 Service Unavailable" in detail and "s3cr3t" not in detail
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Alert rules on runs recorded in a real PostgreSQL: thresholds, history, cooldown, and
end to end through `Pipeline.run`."""

from __future__ import annotations

import json
import logging

import pytest

import polaretl as pe
import polaretl.alerts as al
from contracts.orders import Order
from polaretl.alerts import evaluate_run
from tests.alerts.conftest import add_run, alert_rows, free_port
from tests.helpers import copy_example_orders, orders_csv, query


def pipeline(*alerts, name="orders", folder="nowhere"):
    return pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(f"{folder}/*.csv", null_values=["", "NA"]),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
        alerts=list(alerts),
    )


QUIET = {"cooldown": 0, "channels": [al.Log()]}


def fired_rules(conn, rule, run_id, name="orders"):
    return [f.rule for f in evaluate_run(conn, pipeline(rule, name=name), run_id)]


def test_failure_rate_fires_above_its_threshold_only(conn):
    rule = al.FailureRate(above=0.05, **QUIET)
    assert fired_rules(conn, rule, add_run(conn, processed=100, rejected=5)) == []
    assert fired_rules(conn, rule, add_run(conn, processed=0, rejected=0)) == []
    run = add_run(conn, processed=100, rejected=6)
    assert fired_rules(conn, rule, run) == ["FailureRate(above=0.05)"]
    (_, pipe, run_id, message, channels), *_ = alert_rows(conn)
    assert (pipe, run_id, channels) == ("orders", run, {"log": "ok"})
    assert "6 of 100 records rejected (6.0%), above 5.0%" in message


def test_volume_drop_compares_with_the_median_of_recent_succeeded_runs(conn):
    rule = al.VolumeDrop(below=0.5, **QUIET)
    first = add_run(conn, processed=10)
    assert fired_rules(conn, rule, first) == []  # no history yet
    for processed in (100, 100, 200):
        add_run(conn, processed=processed)
    add_run(conn, status="failed", processed=1)  # failed runs are not history
    # the last five succeeded runs: 10, 100, 100, 200 -> median 100
    assert fired_rules(conn, rule, add_run(conn, processed=50)) == []  # 50 = 0.5 x 100
    # history now 10, 100, 100, 200, 50 -> median 100
    run = add_run(conn, processed=49)
    assert fired_rules(conn, rule, run) == ["VolumeDrop(below=0.5, runs=5)"]
    assert (
        "processed 49 records, below 50% of the median 100 of the last 5"
        in (alert_rows(conn)[-1][3])
    )
    # N is configurable: against the last run alone (49), 30 is no drop
    assert (
        fired_rules(conn, al.VolumeDrop(below=0.5, runs=1, **QUIET), add_run(conn, processed=30))
        == []
    )
    # a failed run is left to RunFailed
    assert fired_rules(conn, rule, add_run(conn, status="failed", processed=0)) == []


def test_duration_above_seconds(conn):
    rule = al.Duration(above=10, **QUIET)
    assert fired_rules(conn, rule, add_run(conn, seconds=10.0)) == []
    assert fired_rules(conn, rule, add_run(conn, seconds=10.5)) == ["Duration(above=10.0)"]
    assert "took 10.5 s, above 10.0 s" in alert_rows(conn)[-1][3]


def test_duration_factor_of_the_median(conn):
    rule = al.Duration(factor=3.0, runs=3, **QUIET)
    assert fired_rules(conn, rule, add_run(conn, seconds=100.0)) == []  # no history yet
    for seconds in (2.0, 2.0, 4.0):
        add_run(conn, seconds=seconds)
    assert fired_rules(conn, rule, add_run(conn, seconds=6.0)) == []  # 3 x median 2.0
    run = add_run(conn, seconds=12.1)  # history 2, 4, 6 -> median 4
    assert fired_rules(conn, rule, run) == ["Duration(factor=3.0, runs=3)"]
    assert "more than 3x the median 4.0 s of the last 3 succeeded runs" in alert_rows(conn)[-1][3]
    with pytest.raises(pe.ConfigError, match="above=SECONDS or factor"):
        al.Duration()


def test_schema_change_fires_for_a_new_version_written_by_the_run(conn):
    rule = al.SchemaChange(**QUIET)
    first = add_run(conn)
    conn.execute(
        "INSERT INTO polaretl.schema_versions (pipeline, version, run_id, columns) "
        "VALUES ('orders', 1, %s, '{\"a\": \"Int64\"}')",
        (first,),
    )
    assert fired_rules(conn, rule, first) == []  # a first shape is not a change
    assert fired_rules(conn, rule, add_run(conn)) == []  # nothing written by this run
    changed = add_run(conn)
    conn.execute(
        "INSERT INTO polaretl.schema_versions (pipeline, version, run_id, columns, added, "
        "removed, retyped) VALUES ('orders', 2, %s, '[]', %s, %s, %s)",
        (
            changed,
            json.dumps([{"column": "b", "type": "text", "in_contract": False}]),
            json.dumps([{"column": "c", "type": "integer", "required": False}]),
            json.dumps([{"column": "a", "from": "integer", "to": "text", "required": True}]),
        ),
    )
    assert fired_rules(conn, rule, changed) == ["SchemaChange()"]
    assert (
        "version 2: added b (text); removed c (integer); retyped a (integer -> text)"
        in alert_rows(conn)[-1][3]
    )


def test_schema_change_end_to_end_with_drift_detection(tmp_path, database_url):
    orders_csv(tmp_path / "a.csv", 20)
    pipe = pipeline(al.SchemaChange(**QUIET), folder=tmp_path)
    first = pipe.run(database_url=database_url)
    assert query(database_url, "SELECT count(*) FROM polaretl.alerts") == [(0,)]
    text = orders_csv(tmp_path / "b.csv", 20, start=100).read_text().splitlines()
    (tmp_path / "b.csv").write_text(
        "\n".join([text[0] + ",channel"] + [line + ",web" for line in text[1:]]) + "\n"
    )
    second = pipe.run(database_url=database_url)
    rows = query(database_url, "SELECT rule, run_id, message FROM polaretl.alerts")
    assert [(r[0], r[1]) for r in rows] == [("SchemaChange()", second.run_id)]
    assert "added channel" in rows[0][2] and first.run_id != second.run_id


def test_run_failed(conn):
    rule = al.RunFailed(**QUIET)
    assert fired_rules(conn, rule, add_run(conn)) == []
    run = add_run(conn, status="failed", error="CopyError: disk full")
    assert fired_rules(conn, rule, run) == ["RunFailed()"]
    assert alert_rows(conn)[-1][3] == f"orders run {run} failed: CopyError: disk full"


def test_cooldown_holds_the_same_alert_back_per_rule_and_pipeline(conn):
    rule = al.RunFailed(channels=[al.Log()])  # default cooldown: 15 minutes
    assert rule.cooldown.total_seconds() == 900
    assert fired_rules(conn, rule, add_run(conn, status="failed")) == ["RunFailed()"]
    assert fired_rules(conn, rule, add_run(conn, status="failed")) == []  # held back
    # another pipeline has its own cooldown
    assert fired_rules(conn, rule, add_run(conn, "other", status="failed"), "other") == [
        "RunFailed()"
    ]
    # another rule on the same pipeline too
    other_rule = al.FailureRate(above=0.0, channels=[al.Log()])
    assert fired_rules(conn, other_rule, add_run(conn, status="failed", rejected=1)) == [
        "FailureRate(above=0.0)"
    ]
    conn.execute("UPDATE polaretl.alerts SET fired_at = now() - interval '16 minutes'")
    assert fired_rules(conn, rule, add_run(conn, status="failed")) == ["RunFailed()"]
    # a configurable cooldown: one hour
    hourly = al.RunFailed(cooldown=3600, channels=[al.Log()])
    conn.execute("UPDATE polaretl.alerts SET fired_at = now() - interval '30 minutes'")
    assert fired_rules(conn, hourly, add_run(conn, status="failed")) == []
    assert [r[0] for r in alert_rows(conn)].count("RunFailed()") == 3


def test_rule_channels_pipeline_channels_environment_then_log(webhook, conn):
    own, pipeline_level = al.Log(logger="own"), al.Webhook(webhook.url + "/pipeline")
    assert al.channels_for(al.RunFailed(channels=[own]), [pipeline_level], {}) == [own]
    assert al.channels_for(al.RunFailed(), [pipeline_level], {}) == [pipeline_level]
    env = {"POLARETL_ALERT_WEBHOOK_URL": webhook.url + "/env"}
    assert [c.describe() for c in al.channels_for(al.RunFailed(), [], env)] == [
        f"webhook:{webhook.url}"
    ]
    assert [c.describe() for c in al.channels_for(al.RunFailed(), [], {})] == ["log"]
    # a channel listed among the pipeline's alerts is the default of its rules
    run = add_run(conn, status="failed")
    fired = evaluate_run(conn, pipeline(al.RunFailed(), pipeline_level), run, environ=env)
    assert [p["path"] for p in webhook.posts] == ["/pipeline"]
    assert fired[0].channels == {f"webhook:{webhook.url}": "ok"}


def test_bad_alert_items_are_refused_or_skipped(conn, caplog):
    with pytest.raises(pe.ConfigError, match="alerts= takes rules"):
        al.split_alerts([al.RunFailed(), "email me"])
    with pytest.raises(pe.ConfigError, match="channels must be"):
        al.RunFailed(channels=["https://example.com"])
    with pytest.raises(pe.ConfigError, match="cooldown"):
        al.RunFailed(cooldown=-1)
    run = add_run(conn, status="failed")
    with caplog.at_level(logging.ERROR, logger="polaretl.alerts"):
        fired = evaluate_run(conn, pipeline("email me", al.RunFailed(**QUIET)), run)
    assert [f.rule for f in fired] == ["RunFailed()"]
    assert "It is ignored" in caplog.text


class Broken(al.Rule):
    def check(self, facts):
        raise ZeroDivisionError("a rule with a bug")


def test_end_to_end_a_failing_channel_is_recorded_and_the_run_succeeds(
    tmp_path, database_url, webhook, caplog
):
    webhook.status, webhook.reply = 503, "maintenance"
    dead = f"http://127.0.0.1:{free_port()}/hook?token=t0ps3cret"
    orders = pipeline(
        Broken(),
        al.FailureRate(
            above=0.05, channels=[al.Webhook(webhook.url + "/etl"), al.Webhook(dead), al.Log()]
        ),
        al.RunFailed(),
        folder=copy_example_orders(tmp_path),
    )
    with caplog.at_level(logging.WARNING, logger="polaretl"):
        result = orders.run(database_url=database_url)
    assert (result.status, result.processed, result.rejected) == ("succeeded", 82, 11)
    rows = query(database_url, "SELECT rule, run_id, message, channels FROM polaretl.alerts")
    assert len(rows) == 1
    rule, run_id, message, channels = rows[0]
    assert (rule, run_id) == ("FailureRate(above=0.05)", result.run_id)
    assert "11 of 82 records rejected (13.4%)" in message
    assert channels[f"webhook:{webhook.url}"] == "HTTP 503 Service Unavailable: maintenance"
    dead_key = f"webhook:{dead.split('/hook')[0]}"
    assert channels[dead_key].startswith("ConnectError")
    assert channels["log"] == "ok"
    assert "t0ps3cret" not in json.dumps(rows, default=str)
    assert webhook.posts[0]["json"]["run_id"] == result.run_id
    assert "a rule with a bug" in caplog.text  # logged, not raised


def test_end_to_end_a_failed_run_fires_run_failed(tmp_path, database_url, webhook):
    query(
        database_url,
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint, "
        "amount double precision CONSTRAINT small_amounts CHECK (amount < 50), status text, "
        "created_at timestamp, note text)",
    )
    orders_csv(tmp_path / "c.csv", 100)
    orders = pipeline(al.RunFailed(channels=[al.Webhook(webhook.url)]), folder=tmp_path)
    with pytest.raises(pe.RunFailedError, match="small_amounts") as info:
        orders.run(database_url=database_url)
    (rule, run_id, message, channels), *_ = query(
        database_url, "SELECT rule, run_id, message, channels FROM polaretl.alerts"
    )
    assert (rule, run_id, channels) == (
        "RunFailed()",
        info.value.run_id,
        {f"webhook:{webhook.url}": "ok"},
    )
    assert "small_amounts" in message and webhook.posts[0]["json"]["run_status"] == "failed"


def test_after_run_never_raises(database_url, caplog):
    from polaretl.run.lifecycle import after_run

    orders = pipeline(al.RunFailed())
    with caplog.at_level(logging.ERROR, logger="polaretl"):
        import psycopg

        conn = psycopg.connect(database_url, autocommit=True)
        conn.close()  # a connection that is gone
        after_run(conn, orders, 1)
    assert "could not be evaluated" in caplog.text


def test_rejections_view_counts_per_column_and_check(tmp_path, database_url):
    result = pipeline(folder=copy_example_orders(tmp_path)).run(database_url=database_url)
    rows = query(
        database_url,
        'SELECT run_id, pipeline, "column", "check", count FROM polaretl.rejections '
        'ORDER BY count DESC, "column", "check"',
    )
    assert rows[0] == (result.run_id, "orders", "order_id", "field_uniqueness", 2)
    assert sum(r[4] for r in rows) == 11
    assert (result.run_id, "orders", "status", "isin(['new', 'paid', 'shipped'])", 2) in rows

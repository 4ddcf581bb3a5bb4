"""Alert channels against real local receivers: an HTTP server and an SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
from email import policy

import pytest

import polaretl.alerts as al
from polaretl.alerts import deliver
from polaretl.errors import ConfigError
from tests.alerts.conftest import add_run, free_port

ALERT = al.Alert(
    id=7,
    rule="FailureRate(above=0.05)",
    pipeline="orders",
    run_id=42,
    run_status="succeeded",
    message="orders run 42: 11 of 82 records rejected (13.4%), above 5.0% <&>",
    fired_at=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
)


def test_webhook_posts_the_alert_as_json_with_headers(webhook):
    channel = al.Webhook(webhook.url + "/etl/alerts", headers={"Authorization": "Bearer abc123"})
    assert deliver(channel, ALERT) == "ok"
    (post,) = webhook.posts
    assert post["path"] == "/etl/alerts"
    assert post["headers"]["authorization"] == "Bearer abc123"
    assert post["headers"]["content-type"] == "application/json"
    assert post["json"] == {
        "source": "polaretl",
        "alert_id": 7,
        "rule": "FailureRate(above=0.05)",
        "pipeline": "orders",
        "run_id": 42,
        "run_status": "succeeded",
        "message": ALERT.message,
        "fired_at": "2026-03-01T12:00:00+00:00",
    }


def test_webhook_error_is_the_status_and_body_without_secrets(webhook):
    webhook.status, webhook.reply = 401, "bad token s3cr3tvalue"
    channel = al.Webhook(webhook.url + "/hook?token=s3cr3tvalue")
    assert channel.describe() == f"webhook:{webhook.url}"
    assert deliver(channel, ALERT) == "HTTP 401 Unauthorized: bad token ***"
    refused = al.Webhook(f"http://127.0.0.1:{free_port()}/x", timeout=2)
    assert deliver(refused, ALERT).startswith("ConnectError: ")


def test_slack_posts_text_and_hides_the_token_path(webhook):
    url = webhook.url + "/services/T0001/B0002/XXXXXXXXXXXXXXXX"
    channel = al.Slack(url)
    assert "XXXXXXXX" not in channel.describe() + repr(channel)
    assert deliver(channel, ALERT) == "ok"
    text = webhook.posts[0]["json"]["text"]
    assert text.startswith("*[polaretl] orders: FailureRate(above=0.05)*\n")
    assert text.endswith("above 5.0% &lt;&amp;&gt;")  # mrkdwn control characters escaped
    webhook.status, webhook.reply = 404, f"no_service for {url}"
    result = deliver(channel, ALERT)
    assert result.startswith("HTTP 404 Not Found: no_service") and "XXXXXXXX" not in result


def test_email_through_a_local_smtp_server(smtp):
    channel = al.Email(
        ["ops@example.com", "oncall@example.com"], smtp_url=smtp.url, sender="etl@example.com"
    )
    assert deliver(channel, ALERT) == "ok"
    (envelope,) = smtp.messages
    assert envelope.mail_from == "etl@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    mail = email.message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == "[polaretl] orders: FailureRate(above=0.05)"
    body = mail.get_content()
    assert ALERT.message in body and "polaretl show 42" in body


def test_email_errors_are_the_servers_reply(smtp):
    smtp.refuse.add("nobody@example.com")
    result = deliver(al.Email("nobody@example.com", smtp_url=smtp.url), ALERT)
    assert "550" in result and "no such mailbox here" in result
    assert deliver(al.Email([], smtp_url=smtp.url), ALERT).startswith("Email has no recipients")
    down = deliver(al.Email("a@example.com", smtp_url=f"smtp://127.0.0.1:{free_port()}"), ALERT)
    assert down.startswith("Cannot send mail through 127.0.0.1")
    assert smtp.messages == []


def test_email_never_sends_a_password_in_clear_to_a_remote_host(smtp, monkeypatch):
    url = f"smtp://bot:hunter22@127.0.0.1:{smtp.port}"
    channel = al.Email("a@example.com", smtp_url=url)
    assert "hunter22" not in channel.describe() + repr(channel)
    # loopback: polaretl tries to log in (this server offers no AUTH without TLS)
    assert "hunter22" not in (result := deliver(channel, ALERT))
    assert "AUTH" in result
    # a remote host without TLS cannot run here: pretend 127.0.0.1 is remote
    monkeypatch.setattr(al.smtp, "is_loopback", lambda host: False)
    assert "will not send the password in clear" in deliver(channel, ALERT)
    assert smtp.messages == []
    with pytest.raises(ConfigError, match="smtp:// or smtps://"):
        al.Email("a@example.com", smtp_url="http://mail.example")


def test_apprise_json_to_a_local_receiver(webhook):
    assert (
        deliver(al.Apprise(f"json://127.0.0.1:{webhook.url.rsplit(':', 1)[1]}/ap"), ALERT) == "ok"
    )
    (post,) = webhook.posts
    assert post["path"] == "/ap"
    assert post["json"]["title"] == "[polaretl] orders: FailureRate(above=0.05)"
    assert post["json"]["message"] == ALERT.message
    webhook.status = 500
    failed = deliver(al.Apprise(f"json://127.0.0.1:{webhook.url.rsplit(':', 1)[1]}/ap"), ALERT)
    assert failed != "ok" and "500" in failed
    assert deliver(al.Apprise("nosuchscheme://x"), ALERT).startswith("Apprise does not understand")


def test_log_channel(caplog):
    with caplog.at_level(logging.INFO, logger="polaretl.alerts"):
        assert deliver(al.Log(level="ERROR"), ALERT) == "ok"
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and ALERT.message in record.getMessage()


def test_channels_from_the_environment(webhook, smtp, conn):
    env = {
        "POLARETL_ALERT_WEBHOOK_URL": webhook.url + "/generic",
        "POLARETL_ALERT_SLACK_URL": webhook.url + "/services/T1/B2/ZZZZZZZZZZZZ",
        "POLARETL_ALERT_SMTP_URL": smtp.url,
        "POLARETL_ALERT_EMAIL_TO": "ops@example.com",
        "POLARETL_ALERT_EMAIL_FROM": "etl@example.com",
    }
    channels = al.from_env(env)
    assert [type(c).__name__ for c in channels] == ["Webhook", "Slack", "Email"]
    assert al.from_env({}) == []
    # a pipeline whose rules name no channels uses them
    from tests.alerts.test_rules import pipeline

    run = add_run(conn, status="failed", error="boom")
    (fired,) = al.evaluate_run(conn, pipeline(al.RunFailed()), run, environ=env)
    assert fired.delivered and len(fired.channels) == 3
    assert sorted(p["path"] for p in webhook.posts) == ["/generic", "/services/T1/B2/ZZZZZZZZZZZZ"]
    assert smtp.messages[0].rcpt_tos == ["ops@example.com"]
    stored = conn.execute("SELECT channels FROM polaretl.alerts").fetchone()[0]
    assert stored == fired.channels and "ZZZZZZZZ" not in json.dumps(stored)


def test_a_channel_that_raises_anything_is_recorded():
    class Exploding(al.Channel):
        kind = "exploding"

        def send(self, alert):
            raise RuntimeError("password=hunter2 went wrong")

    assert deliver(Exploding(), ALERT) == "RuntimeError: password=*** went wrong"

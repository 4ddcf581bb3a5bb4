"""Alert channels configured by environment variables, for pipelines whose rules name
no channels (and that list none among their alerts).

- ``POLARETL_ALERT_WEBHOOK_URL``: a `Webhook`;
- ``POLARETL_ALERT_SLACK_URL``: a `Slack` webhook;
- ``POLARETL_ALERT_SMTP_URL`` with ``POLARETL_ALERT_EMAIL_TO`` (comma-separated) and
  ``POLARETL_ALERT_EMAIL_FROM``: an `Email`;
- ``POLARETL_ALERT_APPRISE_URLS`` (whitespace-separated): an `Apprise` channel.
"""

from __future__ import annotations

from collections.abc import Mapping

from polaretl.alerts.channels import Apprise, Channel, Slack, Webhook
from polaretl.alerts.smtp import Email
from polaretl.settings import Settings, current


def from_env(environ: Mapping[str, str] | None = None) -> list[Channel]:
    """The channels configured by ``POLARETL_ALERT_*`` variables (maybe none), read from
    `environ` (default: this process's settings).

    Example:
        >>> from_env({"POLARETL_ALERT_WEBHOOK_URL": "https://ops.example/h",
        ...           "POLARETL_ALERT_EMAIL_TO": "a@example.com, b@example.com"})
        [Webhook('webhook:https://ops.example'), Email('email:a@example.com,b@example.com via smtp://localhost')]
    """
    env = current() if environ is None else Settings.from_env(environ)
    out: list[Channel] = []
    if env.alert_webhook_url:
        out.append(Webhook(env.alert_webhook_url))
    if env.alert_slack_url:
        out.append(Slack(env.alert_slack_url))
    if env.alert_smtp_url or env.alert_email_to:
        out.append(
            Email(
                env.alert_email_to or "",
                smtp_url=env.alert_smtp_url or "smtp://localhost",
                sender=env.alert_email_from or None,
            )
        )
    if env.alert_apprise_urls:
        out.append(Apprise(env.alert_apprise_urls.split()))
    return out

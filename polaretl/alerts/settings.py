"""Alert channels configured by environment variables, for pipelines whose rules name
no channels (and that list none among their alerts).

- ``POLARETL_ALERT_WEBHOOK_URL``: a `Webhook`;
- ``POLARETL_ALERT_SLACK_URL``: a `Slack` webhook;
- ``POLARETL_ALERT_SMTP_URL`` with ``POLARETL_ALERT_EMAIL_TO`` (comma-separated) and
  ``POLARETL_ALERT_EMAIL_FROM``: an `Email`;
- ``POLARETL_ALERT_APPRISE_URLS`` (whitespace-separated): an `Apprise` channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from polaretl.alerts.channels import Apprise, Channel, Slack, Webhook
from polaretl.alerts.smtp import ENV_EMAIL_FROM, ENV_SMTP_URL, Email

ENV_WEBHOOK_URL = "POLARETL_ALERT_WEBHOOK_URL"
ENV_SLACK_URL = "POLARETL_ALERT_SLACK_URL"
ENV_EMAIL_TO = "POLARETL_ALERT_EMAIL_TO"
ENV_APPRISE_URLS = "POLARETL_ALERT_APPRISE_URLS"


def from_env(environ: Mapping[str, str] | None = None) -> list[Channel]:
    """The channels configured by ``POLARETL_ALERT_*`` variables (maybe none).

    Example:
        >>> from_env({"POLARETL_ALERT_WEBHOOK_URL": "https://ops.example/h",
        ...           "POLARETL_ALERT_EMAIL_TO": "a@example.com, b@example.com"})
        [Webhook('webhook:https://ops.example'), Email('email:a@example.com,b@example.com via smtp://localhost')]
    """
    env = os.environ if environ is None else environ
    out: list[Channel] = []
    if env.get(ENV_WEBHOOK_URL):
        out.append(Webhook(env[ENV_WEBHOOK_URL]))
    if env.get(ENV_SLACK_URL):
        out.append(Slack(env[ENV_SLACK_URL]))
    if env.get(ENV_SMTP_URL) or env.get(ENV_EMAIL_TO):
        out.append(
            Email(
                env.get(ENV_EMAIL_TO, ""),
                smtp_url=env.get(ENV_SMTP_URL) or "smtp://localhost",
                sender=env.get(ENV_EMAIL_FROM) or None,
            )
        )
    if env.get(ENV_APPRISE_URLS):
        out.append(Apprise(env[ENV_APPRISE_URLS].split()))
    return out

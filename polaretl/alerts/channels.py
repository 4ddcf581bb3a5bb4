"""Where a fired alert goes: log, webhook, Slack-compatible webhook, email, Apprise.

- `Log()` — Python `logging`: always there; the default when nothing else is configured.
- `Webhook(url)` — httpx, a JSON POST: our own payload (rule, pipeline, run_id, message,
  ...) and the exact HTTP status and body as the error; Apprise's ``json://`` wraps
  messages in its own shape.
- `Slack(url)` — httpx, a ``{"text": ...}`` POST: any Slack-compatible incoming webhook
  (Slack, Mattermost, Rocket.Chat) at any URL; Apprise's Slack plugin only speaks to
  hooks.slack.com in its token form.
- `Email(to, smtp_url=...)` — smtplib: the SMTP server's own reply code and text as the
  error, and an explicit TLS policy (``smtps://`` is TLS from the start, ``smtp://``
  upgrades with STARTTLS when offered and refuses to send a password in clear to
  anything but a loopback host).
- `Apprise(urls)` — apprise: the other 100+ services (Teams, Discord, Telegram,
  PagerDuty, ntfy, ...) by their Apprise URLs.

A channel's `send` raises on failure; `deliver` turns that into the text recorded in
``polaretl.alerts.channels`` ("ok" or the error, secrets masked). No channel error ever
reaches the run.

`Email` lives in ``smtp.py``. Channels also come from the environment
(`polaretl.alerts.settings.from_env`): ``POLARETL_ALERT_WEBHOOK_URL``,
``POLARETL_ALERT_SLACK_URL``, ``POLARETL_ALERT_SMTP_URL`` with
``POLARETL_ALERT_EMAIL_TO`` (comma-separated) and ``POLARETL_ALERT_EMAIL_FROM``, and
``POLARETL_ALERT_APPRISE_URLS`` (whitespace-separated).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from polaretl.errors import ChannelError, ConfigError, PolaretlError
from polaretl.redact import MASK, redact_text, register_secret

log = logging.getLogger("polaretl.alerts")

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Alert:
    """One firing, as channels send it."""

    id: int
    rule: str
    pipeline: str
    run_id: int
    run_status: str
    message: str
    fired_at: dt.datetime

    @property
    def title(self) -> str:
        return f"[polaretl] {self.pipeline}: {self.rule}"

    def payload(self) -> dict[str, Any]:
        """The JSON a webhook receives."""
        return {
            "source": "polaretl",
            "alert_id": self.id,
            "rule": self.rule,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "run_status": self.run_status,
            "message": self.message,
            "fired_at": self.fired_at.isoformat(),
        }


class Channel:
    """Base of the alert channels: subclass it, write `send` and `describe`."""

    kind = "channel"

    def send(self, alert: Alert) -> None:
        """Deliver the alert; raise (any exception) if it was not delivered."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the channel sends, without secrets (the key in ``alerts.channels``)."""
        return self.kind

    def secrets(self) -> list[str]:
        """Strings masked in this channel's error texts (tokens, passwords, URL paths)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def deliver(channel: Channel, alert: Alert) -> str:
    """Send through `channel`: "ok", or the error's text with secrets masked.

    Example:
        >>> a = Alert(1, "RunFailed()", "p", 7, "failed", "p run 7 failed: x",
        ...           dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        >>> deliver(Webhook("http://127.0.0.1:9/hook?token=t0ps3cret", timeout=2), a)
        'ConnectError: ...'
    """
    try:
        channel.send(alert)
    except Exception as exc:  # noqa: BLE001 - a channel failure is recorded, never raised
        text = exc.message if isinstance(exc, PolaretlError) else f"{type(exc).__name__}: {exc}"
        return scrub(text.strip() or type(exc).__name__, channel.secrets())
    return "ok"


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Mask `secrets` (longest first) and then whatever `redact_text` masks.

    Example:
        >>> scrub("POST https://hooks.example/services/T1/B2/xyz1 failed", ["/T1/B2/xyz1"])
        'POST https://hooks.example/services*** failed'
    """
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_text(text)


class Log(Channel):
    """Python logging (logger ``polaretl.alerts`` by default, level WARNING).

    Example:
        >>> Log()
        Log('log')
    """

    kind = "log"

    def __init__(self, level: int | str = logging.WARNING, logger: str = "polaretl.alerts"):
        self.level = logging.getLevelName(level) if isinstance(level, str) else level
        if not isinstance(self.level, int):
            raise ConfigError(f"Log: unknown logging level {level!r}.")
        self.logger = logger

    def send(self, alert: Alert) -> None:
        logging.getLogger(self.logger).log(
            self.level, "alert %s: %s", alert.rule, alert.message, extra={"alert": alert.payload()}
        )


def _url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: userinfo, path, query values."""
    parts = urlsplit(url)
    out = [url]
    if parts.password:
        out.append(parts.password)
    if parts.path and parts.path != "/":
        out.append(parts.path)
    out.extend(v for values in parse_qs(parts.query).values() for v in values)
    return out


def url_origin(url: str) -> str:
    """Scheme, host and port of a URL: what a channel shows of where it sends.

    Example:
        >>> url_origin("https://hooks.slack.com/services/T0/B0/XXXX?x=1")
        'https://hooks.slack.com'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def _check_http_url(kind: str, url: str) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"{kind}: url must be an http(s) URL, not {redact_text(str(url))!r}.")
    return url


class _HttpChannel(Channel):
    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = _check_http_url(type(self).__name__, url)
        self.headers = dict(headers or {})
        self.timeout = timeout
        for value in self.headers.values():
            register_secret(value)  # an Authorization header is a secret wherever it shows

    def body(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, alert: Alert) -> None:
        import httpx  # noqa: PLC0415 - only needed when an alert goes out

        response = httpx.post(
            self.url,
            content=json.dumps(self.body(alert), default=str).encode("utf-8"),
            headers={"content-type": "application/json", **self.headers},
            timeout=self.timeout,
        )
        if response.status_code >= 300:
            raise ChannelError(
                f"HTTP {response.status_code} {response.reason_phrase}: "
                f"{response.text[:200].strip()}"
            )

    def secrets(self) -> list[str]:
        return [*_url_secrets(self.url), *self.headers.values()]


class Webhook(_HttpChannel):
    """A JSON POST of the alert (`Alert.payload`) to `url`; any 2xx is success.

    Example:
        >>> Webhook("https://ops.example/hooks/etl?token=s3cret")
        Webhook('webhook:https://ops.example')
    """

    kind = "webhook"

    def body(self, alert: Alert) -> dict[str, Any]:
        return alert.payload()

    def describe(self) -> str:
        return f"webhook:{url_origin(self.url)}"


class Slack(_HttpChannel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): ``{"text"}``.

    The URL's path is the secret (``/services/T.../B.../XXXX``): it is never shown.

    Example:
        >>> Slack("https://hooks.slack.com/services/T000/B000/XXXXXXXX")
        Slack('slack:https://hooks.slack.com')
    """

    kind = "slack"

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(url, timeout=timeout)
        path = urlsplit(url).path
        if len(path) > 12:  # a token-bearing path; short ones ("/hook") are not secrets
            register_secret(path)

    def body(self, alert: Alert) -> dict[str, Any]:
        text = f"*{alert.title}*\n{alert.message}"
        # Slack's mrkdwn: &, < and > are control characters
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {"text": text}

    def describe(self) -> str:
        return f"slack:{url_origin(self.url)}"


class Apprise(Channel):
    """Any service Apprise knows, by its URLs (``discord://...``, ``msteams://...``,
    ``json://host/path``, ...). Only the URL scheme is ever shown.

    Example:
        >>> Apprise("json://127.0.0.1:8080/hook")
        Apprise('apprise:json')
    """

    kind = "apprise"

    def __init__(self, urls: str | Sequence[str]) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ConfigError("Apprise: give at least one Apprise URL.")

    def describe(self) -> str:
        schemes = sorted({urlsplit(u).scheme or "?" for u in self.urls})
        return f"apprise:{','.join(schemes)}"

    def secrets(self) -> list[str]:
        out: list[str] = []
        for url in self.urls:
            parts = urlsplit(url)
            out.extend(_url_secrets(url))
            out.append(parts.netloc)  # tokens often sit where a host would (tgram://TOKEN/)
        return out

    def send(self, alert: Alert) -> None:
        # Apprise loads its plugins on first use, and one of them imports the deprecated
        # `imghdr`: a DeprecationWarning nobody using polaretl can act on.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise  # noqa: PLC0415 - heavy; only needed when an alert goes out

            notifier = apprise.Apprise()
            for url in self.urls:
                if not notifier.add(url):
                    raise ChannelError(
                        "Apprise does not understand the URL of scheme "
                        f"{urlsplit(url).scheme!r}; see the Apprise wiki for the service's "
                        "URL format."
                    )
            result = notifier.notify(body=alert.message, title=alert.title)
        if not result:
            logs = getattr(result, "logs", None)  # apprise >= 2 says why; 1.x returns False
            problems = [
                e.message
                for e in (logs() if callable(logs) else [])
                if e.level in ("WARNING", "ERROR", "CRITICAL")
            ]
            raise ChannelError("; ".join(problems[-3:]) or "Apprise reported a failure")

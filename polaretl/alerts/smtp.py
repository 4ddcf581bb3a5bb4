"""`Email`: alerts by mail through an SMTP server given as a URL (smtplib).

smtplib rather than Apprise's ``mailto://``: the server's own reply code and text become
the recorded error, and the TLS policy is explicit (see `Email`).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from polaretl.alerts.channels import DEFAULT_TIMEOUT, Alert, Channel, url_origin
from polaretl.errors import ChannelError, ConfigError
from polaretl.net import is_loopback
from polaretl.redact import redact_url, register_secret
from polaretl.settings import current


class Email(Channel):
    """Mail through an SMTP server given as a URL.

    ``smtps://user:password@host:465`` is TLS from the first byte; ``smtp://host:587``
    upgrades with STARTTLS when the server offers it and, without TLS, logs in only to a
    loopback host. Query parameter ``from=`` sets the sender. Defaults come from
    ``POLARETL_ALERT_SMTP_URL`` and ``POLARETL_ALERT_EMAIL_FROM``.

    Example:
        >>> Email(["ops@example.com"], smtp_url="smtp://bot:pw@mail.example:587")
        Email('email:ops@example.com via smtp://mail.example:587')
    """

    kind = "email"

    def __init__(
        self,
        to: str | Sequence[str],
        *,
        smtp_url: str | None = None,
        sender: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        recipients = [to] if isinstance(to, str) else list(to)
        self.to = [a.strip() for r in recipients for a in r.split(",") if a.strip()]
        self.smtp_url = smtp_url or current().alert_smtp_url or "smtp://localhost:25"
        parts = urlsplit(self.smtp_url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError(
                f"Email: smtp_url must start with smtp:// or smtps://, not "
                f"{redact_url(self.smtp_url)!r}."
            )
        query = parse_qs(parts.query)
        self.sender = (
            sender
            or query.get("from", [None])[0]
            or current().alert_email_from
            or f"polaretl@{socket.getfqdn()}"
        )
        self.timeout = timeout
        if parts.password:
            register_secret(unquote(parts.password))

    def describe(self) -> str:
        return f"email:{','.join(self.to)} via {url_origin(self.smtp_url)}"

    def secrets(self) -> list[str]:
        parts = urlsplit(self.smtp_url)
        return [unquote(parts.password)] if parts.password else []

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.title
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(
            f"{alert.message}\n\npipeline: {alert.pipeline}\nrun: {alert.run_id} "
            f"({alert.run_status})\nrule: {alert.rule}\nfired at: {alert.fired_at}\n\n"
            f"Details: polaretl show {alert.run_id}\n"
        )
        return msg

    def send(self, alert: Alert) -> None:
        if not self.to:
            raise ChannelError(
                "Email has no recipients: give to=[...] or set POLARETL_ALERT_EMAIL_TO."
            )
        parts = urlsplit(self.smtp_url)
        host = parts.hostname or "localhost"
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        try:
            if parts.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(
                    host, parts.port or 465, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout)
            with smtp:
                secure = parts.scheme == "smtps"
                if not secure:
                    smtp.ehlo()
                    if smtp.has_extn("starttls"):
                        smtp.starttls(context=context)
                        smtp.ehlo()
                        secure = True
                if parts.username:
                    if not secure and not is_loopback(host):
                        raise ChannelError(
                            f"SMTP server {host} offers no TLS: polaretl will not send the "
                            "password in clear. Use smtps:// or a server with STARTTLS."
                        )
                    smtp.login(unquote(parts.username), unquote(parts.password or ""))
                smtp.send_message(self.message(alert))
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise ChannelError(f"SMTP {exc.smtp_code} from {host}: {reply}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(
                f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}"
                for rcpt, (code, msg) in exc.recipients.items()
            )
            raise ChannelError(f"SMTP server {host} refused recipients: {refused}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(
                f"Cannot send mail through {host}:{parts.port or ''}: {type(exc).__name__}: {exc}"
            ) from exc

"""Keep secrets out of logs, run records, errors and alerts.

Every URL or message polaretl writes anywhere passes through `redact_url` or
`redact_text` first. Secrets are passwords in URLs, credential-like query parameters,
and any value registered with `register_secret` (tokens read from the environment).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = re.compile(
    r"(pass(word)?|pwd|secret|token|api[_-]?key|apikey|key|auth|access[_-]?token|signature|sig)",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s)]+)", re.IGNORECASE)

_lock = threading.Lock()
_registered: set[str] = set()

MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret so `redact_text` masks it wherever it shows up."""
    if value and len(value) >= 4:
        with _lock:
            _registered.add(value)


def redact_url(url: str) -> str:
    """Mask the password and credential-like query parameters of a URL.

    Example:
        >>> redact_url("postgresql://bob:s3cret@db:5432/x?sslmode=require&token=abc")
        'postgresql://bob:***@db:5432/x?sslmode=require&token=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (k, MASK if _SECRET_PARAMS.fullmatch(k) or _SECRET_PARAMS.search(k) else v)
                for k, v in pairs
            ],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def looks_secret(name: str) -> bool:
    """Whether a query parameter or header name looks like it holds a credential.

    Example:
        >>> looks_secret("X-API-Key"), looks_secret("Authorization"), looks_secret("limit")
        (True, True, False)
    """
    return _SECRET_PARAMS.search(name) is not None


def secret_params(url: str) -> dict[str, str]:
    """The query parameters of `url` that `redact_url` masks (credentials), by name.

    Example:
        >>> secret_params("https://api/x?limit=5&api_key=abc")
        {'api_key': 'abc'}
    """
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    pairs = parse_qsl(query, keep_blank_values=True)
    return {k: v for k, v in pairs if looks_secret(k)}


def redact_text(text: str) -> str:
    """Mask URLs' secrets, ``password=...`` pairs and registered secrets in free text.

    Example:
        >>> redact_text("cannot reach postgresql://u:pw@h/db (password=pw)")
        'cannot reach postgresql://u:***@h/db (password=***)'
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _KV_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Passes every record, its message redacted (for libraries that log URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# httpx logs every request's full URL at INFO ("HTTP Request: GET https://...?key=...").
logging.getLogger("httpx").addFilter(RedactingFilter())

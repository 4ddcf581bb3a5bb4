"""Keep secrets out of logs, run records, errors and alerts.

Every URL or message polaretl writes anywhere passes through `redact_url` or
`redact_text` first. Secrets are:

- the password of a connection string, in every form libpq accepts: a URL
  (``postgresql://user:PASSWORD@host/db``, where libpq takes ``#``, ``?``, ``:`` and
  quotes in the password unencoded: the user info ends at the first ``@`` before any
  ``/``), a query parameter (``?password=...``, ``&sslpassword=...``) and key=value
  pairs (``password=...``, ``password = 'a b\\' c'``, backslash escapes, spaces
  around ``=``);
- credential-like query parameters of any URL (``token``, ``api_key``, ...);
- any value registered with `register_secret` (tokens read from the environment, and
  the passwords `register_dsn` finds with libpq's own parser), and ``PGPASSWORD``.

The masking is structural (it does not need to know the password), so a connection
string nobody registered is masked too; registered values are masked wherever they show
up, in any text.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from urllib.parse import parse_qsl, quote, urlsplit

import psycopg

_SECRET_PARAMS = re.compile(
    r"(pass(word)?|pwd|secret|token|api[_-]?key|apikey|key|auth|access[_-]?token|signature|sig)",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
# libpq's key=value syntax: spaces around "=", a value quoted with '...' (backslash
# escapes inside), or unquoted up to white space (backslash escapes too). White space is
# ASCII white space, as libpq's isspace() sees it: a no-break space can be in a password.
_WS = r"[ \t\n\r\f\v]"
_KV_VALUE = r"(?P<value>'(?:[^'\\]|\\[\s\S])*(?:'|\Z)|(?:\\[\s\S]?|[^ \t\n\r\f\v\\])*)"
_KV_KEY = r"(?P<key>\b\w*password" + _WS + "*=" + _WS + "*)"
#: free text: a key=value password (PGPASSWORD=, sslpassword=, ...), or a URL (as far as
#: white space: libpq refuses spaces in URLs, and quotes may be part of a password)
_IN_TEXT = re.compile(
    _KV_KEY + _KV_VALUE + r"|(?P<url>" + _SCHEME.pattern + r"[^ \t\n\r\f\v]*)", re.IGNORECASE
)
_KV = re.compile(_KV_KEY + _KV_VALUE, re.IGNORECASE)
#: environment variables libpq reads a password from
_ENV_SECRETS = ("PGPASSWORD",)

_lock = threading.Lock()
_registered: set[str] = set()

MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret so `redact_text` masks it wherever it shows up."""
    if value and len(value) >= 4:
        with _lock:
            _registered.add(value)


def register_dsn(dsn: str | None) -> None:
    """Register the passwords of a connection string, as libpq parses it (decoded, and
    as written in the string), so they are masked wherever they show up.

    Example:
        >>> register_dsn("host=db password='pa ss#1' dbname=x")
        >>> redact_text("authentication for 'pa ss#1' failed")
        "authentication for '***' failed"
    """
    if not dsn:
        return
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        parts = {}  # not libpq's (another driver's URL): the written form below
    for key in ("password", "sslpassword"):
        value = parts.get(key)
        if isinstance(value, str):
            register_secret(value)
            register_secret(quote(value, safe=""))
    for start, end in _url_secrets(dsn) if _SCHEME.match(dsn) else _kv_secrets(dsn):
        written = dsn[start:end]
        register_secret(written[1:-1] if written[:1] == "'" else written)


def redact_url(url: str) -> str:
    """Mask the password and credential-like query parameters of a URL, or the
    passwords of a key=value connection string.

    Example:
        >>> redact_url("postgresql://bob:s3cret@db:5432/x?sslmode=require&token=abc")
        'postgresql://bob:***@db:5432/x?sslmode=require&token=***'
        >>> redact_url("postgresql://u:Sup3r#Secr3t@127.0.0.1/db")
        'postgresql://u:***@127.0.0.1/db'
        >>> redact_url("host=db user=u password='a b' dbname=x")
        'host=db user=u password=*** dbname=x'
    """
    if not _SCHEME.match(url):
        return _masked(url, _kv_secrets(url))
    return _masked(url, _url_secrets(url))


def _url_secrets(url: str) -> list[tuple[int, int]]:
    """The spans of a URL's secrets: the password of its user info (libpq's reading:
    the user info ends at the first "@" before any "/"; "#", "?" and ":" can be in the
    password) and the values of credential-like query parameters (a "#" ends nothing)."""
    spans = []
    scheme = _SCHEME.match(url)
    head = scheme.end() if scheme else 0
    stop = re.compile(r"[@/]").search(url, head)
    if stop is not None and url[stop.start()] == "@":
        colon = url.find(":", head, stop.start())
        if colon >= 0:
            spans.append((colon + 1, stop.start()))
        head = stop.end()  # a "?" in the password starts no query
    question = url.find("?", head)
    if question >= 0:
        pos = question + 1
        for pair in url[question + 1 :].split("&"):
            name, eq, _ = pair.partition("=")
            if eq and looks_secret(name):
                spans.append((pos + len(name) + 1, pos + len(pair)))
            pos += len(pair) + 1
    return spans


def _kv_secrets(text: str) -> list[tuple[int, int]]:
    """The spans of the password values of key=value pairs (libpq's syntax)."""
    return [(m.start("value"), m.end("value")) for m in _KV.finditer(text)]


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (overlapping ones merged) replaced by the mask."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        start = max(start, pos)
        out += [text[pos:start], MASK]
        pos = end
    return "".join([*out, text[pos:]])


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
        >>> redact_text("cannot reach postgresql://u:pw@h/db; PGPASSWORD=pw is set")
        'cannot reach postgresql://u:***@h/db; PGPASSWORD=*** is set'
    """

    def one(m: re.Match[str]) -> str:
        if m.group("url") is not None:
            return redact_url(m.group("url"))
        return m.group("key") + MASK

    text = _IN_TEXT.sub(one, text)
    with _lock:
        secrets = set(_registered)
    secrets.update(v for k in _ENV_SECRETS if len(v := os.environ.get(k) or "") >= 4)
    for secret in sorted(secrets, key=len, reverse=True):
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

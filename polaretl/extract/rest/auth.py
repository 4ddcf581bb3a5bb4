"""Authentication for `RestExtractor`: bearer token, basic, API key, OAuth2 client credentials.

Each scheme is an `httpx.Auth`. A secret comes from an argument or, better, from an
environment variable named by the ``*_env`` argument: the variable is read when the
first request is sent, so an extractor pickled to a Celery worker carries only the
variable's name. Every secret (and the OAuth2 access token) is registered with
`register_secret`, so `redact_text` masks it in every message, log line and record.

Example:
    >>> auth = BearerAuth(token_env="API_TOKEN")  # read from the environment when used
    >>> auth.describe()
    'bearer token from $API_TOKEN'
"""

from __future__ import annotations

import base64
import email.utils
import os
import threading
import time
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from polaretl.errors import ConfigError, ExtractError, TransientExtractError
from polaretl.redact import redact_text, redact_url, register_secret

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "OAuth2ClientCredentials",
    "RestAuth",
    "Secret",
    "retry_after_seconds",
]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date).

    Example:
        >>> retry_after_seconds("3")
        3.0
        >>> now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
        >>> retry_after_seconds("Wed, 01 Jan 2025 12:00:05 GMT", now)
        5.0
        >>> retry_after_seconds("soon") is None
        True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Secret:
    """A credential from an argument or an environment variable; never printed.

    Args:
        value: the secret itself (kept in memory and in pickles).
        env: the name of the environment variable holding it (read on first use).
        what: what the secret is, for error messages (``"BearerAuth token"``).
    """

    def __init__(self, value: str | None, env: str | None, what: str) -> None:
        if value is None and not env:
            raise ConfigError(
                f"{what}: pass the secret, or the name of the environment variable that "
                "holds it (the *_env argument)."
            )
        self.env = env
        self.what = what
        self._value = value
        self._register()

    def _register(self) -> None:
        if self._value:
            register_secret(self._value)
            register_secret(quote(self._value, safe=""))

    def get(self) -> str:
        """The secret; reads the environment variable on first use.

        Raises:
            ConfigError: the variable is not set.
        """
        if self._value is None:
            value = os.environ.get(self.env or "")
            if not value:
                raise ConfigError(
                    f"{self.what}: the environment variable {self.env} is not set or empty; "
                    "export it before the run."
                )
            self._value = value
            self._register()
        return self._value

    def source(self) -> str:
        """Where the secret comes from, for descriptions (never the value)."""
        return f"${self.env}" if self.env else "an argument"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.env:  # a worker reads its own environment
            state["_value"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._register()

    def __repr__(self) -> str:
        return f"Secret({self.source()})"


class RestAuth(httpx.Auth):
    """Base of the authentication schemes of `RestExtractor`."""

    #: A query parameter the scheme adds to each request; kept out of positions.
    query_param: str | None = None

    def resolve(self) -> None:
        """Read secrets from the environment now, so a missing one fails before any request."""

    def describe(self) -> str:
        """A short description (never the secret)."""
        return type(self).__name__


class BearerAuth(RestAuth):
    """``Authorization: Bearer <token>``.

    Args:
        token: the token.
        token_env: the environment variable holding the token (preferred).
    """

    def __init__(self, token: str | None = None, *, token_env: str | None = None) -> None:
        self.token = Secret(token, token_env, "BearerAuth token")

    def resolve(self) -> None:
        self.token.get()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get()}"
        yield request

    def describe(self) -> str:
        return f"bearer token from {self.token.source()}"


class BasicAuth(RestAuth):
    """HTTP basic authentication.

    Args:
        username: the user name (not a secret).
        password: the password.
        password_env: the environment variable holding the password (preferred).
    """

    def __init__(
        self, username: str, password: str | None = None, *, password_env: str | None = None
    ) -> None:
        self.username = username
        self.password = Secret(password, password_env, "BasicAuth password")

    def resolve(self) -> None:
        self._header()

    def _header(self) -> str:
        raw = f"{self.username}:{self.password.get()}".encode()
        token = base64.b64encode(raw).decode("ascii")
        register_secret(token)
        return f"Basic {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header()
        yield request

    def describe(self) -> str:
        return f"basic auth as {self.username}, password from {self.password.source()}"


class ApiKeyAuth(RestAuth):
    """An API key sent in a header or a query parameter.

    Args:
        name: the header or query parameter name (``X-API-Key``, ``api_key``).
        value: the key.
        value_env: the environment variable holding the key (preferred).
        location: ``"header"`` or ``"query"``. A key in the query is added when each
            request is sent, replacing any copy an API echoes into its next-page URLs,
            and is never stored in positions.
    """

    def __init__(
        self,
        name: str,
        value: str | None = None,
        *,
        value_env: str | None = None,
        location: Literal["header", "query"] = "header",
    ) -> None:
        if location not in ("header", "query"):
            raise ConfigError(f"ApiKeyAuth location must be 'header' or 'query', not {location!r}.")
        self.name = name
        self.location = location
        self.value = Secret(value, value_env, f"ApiKeyAuth {name}")
        self.query_param = name if location == "query" else None

    def resolve(self) -> None:
        self.value.get()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.location == "header":
            request.headers[self.name] = self.value.get()
        else:
            request.url = request.url.copy_set_param(self.name, self.value.get())
        yield request

    def describe(self) -> str:
        return f"API key in {self.location} {self.name} from {self.value.source()}"


class OAuth2ClientCredentials(RestAuth):
    """OAuth2 client-credentials grant; the access token is cached until it expires.

    A token is fetched before the first request and again ``leeway`` seconds before
    ``expires_in`` runs out, or once when the API answers 401 to a cached token.

    Args:
        token_url: the token endpoint.
        client_id: the client id (not a secret).
        client_secret: the client secret.
        client_secret_env: the environment variable holding the secret (preferred).
        scope: the ``scope`` to ask for, if any.
        client_auth: ``"basic"`` (HTTP basic, RFC 6749's default) or ``"body"``
            (``client_id`` and ``client_secret`` as form fields).
        extra: more form fields for the token request (``audience``...).
        leeway: seconds before expiry at which a new token is fetched.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        client_secret_env: str | None = None,
        scope: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        extra: Mapping[str, str] | None = None,
        leeway: float = 30.0,
    ) -> None:
        if client_auth not in ("basic", "body"):
            raise ConfigError(
                "OAuth2ClientCredentials client_auth must be 'basic' or 'body', "
                f"not {client_auth!r}."
            )
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = Secret(client_secret, client_secret_env, "OAuth2 client secret")
        self.scope = scope
        self.client_auth = client_auth
        self.extra = dict(extra or {})
        self.leeway = leeway
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_lock=None, _token=None, _expires_at=0.0)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def resolve(self) -> None:
        self.client_secret.get()

    def describe(self) -> str:
        return (
            f"OAuth2 client credentials for {self.client_id} at {redact_url(self.token_url)}, "
            f"secret from {self.client_secret.source()}"
        )

    def _cached(self) -> str | None:
        with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            return None

    def _token_request(self) -> httpx.Request:
        data = {"grant_type": "client_credentials", **self.extra}
        if self.scope:
            data["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret.get(), safe='')}"
            token = base64.b64encode(pair.encode()).decode("ascii")
            register_secret(token)
            headers["Authorization"] = f"Basic {token}"
        else:
            data.update(client_id=self.client_id, client_secret=self.client_secret.get())
        return httpx.Request("POST", self.token_url, data=data, headers=headers)

    def _accept(self, response: httpx.Response) -> str:
        response.read()
        shown = redact_url(self.token_url)
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientExtractError(
                f"OAuth2 token request to {shown} returned HTTP {status}",
                url=shown,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 400 or not isinstance(body, dict) or not body.get("access_token"):
            reason = ""
            if isinstance(body, dict) and body.get("error"):
                reason = f" ({body.get('error')}: {body.get('error_description', '')})"
            raise ExtractError(
                redact_text(
                    f"OAuth2 token request to {shown} returned HTTP {status}{reason} without "
                    "an access_token: check client_id, the client secret "
                    f"({self.client_secret.source()}), scope and token_url."
                ),
                url=shown,
                status=status,
            )
        token = str(body["access_token"])
        register_secret(token)
        try:
            lifetime = float(body.get("expires_in", "inf"))
        except (TypeError, ValueError):
            lifetime = float("inf")
        with self._lock:
            self._token = token
            self._expires_at = time.monotonic() + max(0.0, lifetime - self.leeway)
        return token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached()
        fresh = token is None
        if token is None:
            token = self._accept((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and not fresh:
            # The API may revoke a token before expires_in: fetch a new one, once.
            with self._lock:
                self._token = None
            token = self._accept((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("RestExtractor uses a synchronous httpx.Client")

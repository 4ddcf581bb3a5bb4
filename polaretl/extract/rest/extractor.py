"""`RestExtractor`: records from a paginated JSON HTTP API, as frames of text columns.

```python
pe.RestExtractor(
    "https://api.example.com/v1/customers",
    records_path="data",                                  # dotted path of the records array
    paginator=CursorPaginator("meta.next_cursor"),        # or PageNumber/Offset/NextUrl/LinkHeader
    auth=BearerAuth(token_env="API_TOKEN"),               # or Basic/ApiKey/OAuth2ClientCredentials
    cursor_field="updated_at", cursor_param="updated_since",   # incremental reads
)
```

**Frames.** Every column is text (`pl.String`): strings as received, numbers as the
exact text they arrived as (``10.50`` stays ``10.50``), booleans ``true``/``false``,
JSON null as null; the contract casts, so a bad value becomes a quarantined row.
Nested objects are flattened to one column per leaf, named with ``flatten_sep``
(default ``_``: ``{"address": {"city": ...}}`` becomes ``address_city``, a valid
Python and SQL identifier, so a contract can name it); two fields that would share
a column raise `ExtractError`. Arrays are kept as compact JSON text (``[1,"a"]``),
an empty object as ``{}``. Records that are not JSON objects go to `Chunk.rejects`.
Each row's source is the page's URL (credentials masked) plus ``#`` and the record's
0-based index in the page's array.

**Chunks and positions.** Pages are never split: pages accumulate until the next one
would pass ``chunk_size`` (a single page larger than ``chunk_size`` is one chunk).
A chunk's position holds the paging state of the page after its last one, the
incremental ``since`` value of the run and the largest ``cursor_field`` value seen;
a resumed read refetches exactly that page. The final chunk's position has
``next: null``; a later run given it starts again at the first page, sending the
largest value seen as ``cursor_param``.

**Retries.** Connect and read errors, timeouts, a body cut short or reset, invalid
JSON (a truncated body), HTTP 408/425/429 and 5xx are retried with exponential
backoff and jitter (tenacity), honouring ``Retry-After``, until ``max_attempts`` or
``max_retry_seconds`` is spent; then `TransientExtractError` (an `ExtractError`)
says which URL and status. Other 4xx fail at once.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import ssl
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from polaretl.errors import ConfigError, ExtractError, TransientExtractError, is_transient
from polaretl.extract.base import REJECT_SCHEMA, Chunk, Extractor, reject_frame
from polaretl.extract.rest.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    RestAuth,
    retry_after_seconds,
)
from polaretl.extract.rest.decode import (
    JsonNumber,
    max_cursor,
    parse_json,
    records_frame,
    to_json_text,
)
from polaretl.extract.rest.paging import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageResult,
    Paginator,
    SinglePage,
    json_path,
    strip_param,
)
from polaretl.extract.storable import fault_in, storable_record
from polaretl.redact import looks_secret, redact_text, register_secret, secret_params

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "CursorPaginator",
    "JsonNumber",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "RestAuth",
    "RestExtractor",
    "SinglePage",
    "max_cursor",
    "parse_json",
    "records_frame",
    "to_json_text",
]

log = logging.getLogger(__name__)

#: Statuses retried besides every 5xx.
RETRY_STATUSES = frozenset({408, 425, 429})

_MISSING: Any = object()
# a NUL or a surrogate escape (paired ones too: the records tell) in a JSON body
_ESCAPES = re.compile(rb"\\u0000|\\u[dD][89abAB]")


# --- HTTP -------------------------------------------------------------------------------------


@dataclass
class _Response:
    url: str  # as requested, without the auth's query parameter
    shown: str  # `url` with credentials masked
    raw: bytes
    body: Any
    links: dict[str, dict[str, str]]
    #: the body may hold text PostgreSQL cannot store (a NUL or surrogate escape, a
    #: byte that is not UTF-8): its records are checked one by one (a cold path)
    suspect: bool = False


@dataclass
class _Page:
    frame: pl.DataFrame
    sources: pl.Series
    rejects: pl.DataFrame | None
    received: int
    nbytes: int
    shown: str


def _hint(status: int) -> str:
    if status in (401, 403):
        return "Check the credentials (auth=...) and what they may access."
    if status == 404:
        return "Check the URL."
    return "Check the URL, params and the paginator's parameter names."


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle takes ~0.1 s."""
    return httpx.create_ssl_context()


class _Session:
    """One read's HTTP client, rate limiter and retry policy."""

    def __init__(self, ex: RestExtractor) -> None:
        self.ex = ex
        self.client = httpx.Client(
            timeout=httpx.Timeout(ex.timeout, connect=ex.connect_timeout),
            headers={"Accept": "application/json", "User-Agent": "polaretl", **ex.headers},
            auth=ex.auth,
            follow_redirects=True,
            verify=_default_ssl_context() if ex.verify is True else ex.verify,
        )
        self.next_slot = 0.0

    def close(self) -> None:
        self.client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(after)
        # Exponential backoff with full jitter on top, capped: backoff * 2^(n-1) + U(0, backoff).
        grown = float(self.ex.backoff * 2 ** min(state.attempt_number - 1, 30))
        return float(min(self.ex.max_backoff, grown + random.uniform(0, self.ex.backoff)))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "GET %s: %s; retry %d of %d in %.2f s",
            getattr(exc, "url", "?"),
            exc,
            state.attempt_number,
            self.ex.max_attempts - 1,
            state.upcoming_sleep,
        )

    def get(self, url: str, params: Mapping[str, Any]) -> _Response:
        """GET a page with retries; raises `TransientExtractError` past the budget."""
        ex = self.ex
        retrying = Retrying(
            stop=stop_after_attempt(ex.max_attempts) | stop_before_delay(ex.max_retry_seconds),
            wait=self._wait,
            retry=retry_if_exception(is_transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        started = time.monotonic()
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(url, params)
        except TransientExtractError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            shown = getattr(exc, "url", "?")
            raise TransientExtractError(
                f"GET {shown} failed after {attempts} attempt(s) in "
                f"{time.monotonic() - started:.1f} s: {exc.message}. The retry budget "
                f"(max_attempts={ex.max_attempts}, max_retry_seconds={ex.max_retry_seconds:g}) "
                "is spent; check that the API is up, then run again (the run resumes after "
                "the last committed chunk).",
                url=shown,
                status=getattr(exc, "status", None),
                attempts=attempts,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _throttle(self) -> None:
        if not self.ex.rate_limit:
            return
        now = time.monotonic()
        if now < self.next_slot:
            time.sleep(self.next_slot - now)
            now = self.next_slot
        self.next_slot = now + 1.0 / self.ex.rate_limit

    def _once(self, url: str, params: Mapping[str, Any]) -> _Response:
        ex = self.ex
        self._throttle()
        # httpx replaces a URL's query with `params`; merge so both are sent.
        target = httpx.URL(url).copy_merge_params(dict(params)) if params else httpx.URL(url)
        request = self.client.build_request("GET", target)
        plain = str(request.url)  # the auth may add a query key to `request` when sent
        shown = redact_text(plain)
        deadline = time.monotonic() + ex.total_timeout if ex.total_timeout else None
        try:
            response = self.client.send(request, stream=True)
            try:
                status = response.status_code
                if status in RETRY_STATUSES or status >= 500:
                    after = retry_after_seconds(response.headers.get("Retry-After"))
                    note = f" (Retry-After: {after:g} s)" if after is not None else ""
                    raise TransientExtractError(
                        f"HTTP {status} {response.reason_phrase}{note}",
                        url=shown,
                        status=status,
                        retry_after=after,
                    )
                if not 200 <= status < 300:
                    text = response.read()[:300].decode("utf-8", "replace")
                    raise ExtractError(
                        redact_text(
                            f"GET {shown} returned HTTP {status} {response.reason_phrase}: "
                            f"{text!r}. {_hint(status)}"
                        ),
                        url=shown,
                        status=status,
                    )
                parts: list[bytes] = []
                for part in response.iter_bytes():
                    parts.append(part)
                    if deadline is not None and time.monotonic() > deadline:
                        raise TransientExtractError(
                            f"the body took longer than total_timeout={ex.total_timeout:g} s",
                            url=shown,
                        )
                raw = b"".join(parts)
                links = {str(k): v for k, v in response.links.items()}
                if response.history:  # redirected: resolve next links against the target
                    plain = strip_param(str(response.url), self._auth_param())
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TransientExtractError(
                f"timed out ({type(exc).__name__}; timeout={ex.timeout:g} s)", url=shown
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            raise TransientExtractError(
                f"{type(exc).__name__}: {redact_text(str(exc))}", url=shown
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ExtractError(
                f"GET {shown} failed: {type(exc).__name__}: {redact_text(str(exc))}. "
                "Check the URL.",
                url=shown,
            ) from exc
        utf8 = True
        try:
            try:
                body = parse_json(raw)
            except UnicodeDecodeError:
                # bytes that are not UTF-8 in strings: kept as Python's surrogateescape
                # characters, so the records holding them are quarantined, not the page
                utf8 = False
                body = parse_json(raw.decode("utf-8", "surrogateescape"))
        except (ValueError, RecursionError) as exc:
            raise TransientExtractError(
                f"the body is not valid JSON ({redact_text(str(exc))[:120]}; "
                f"{len(raw)} bytes received: truncated?)",
                url=shown,
            ) from exc
        suspect = not utf8 or _ESCAPES.search(raw) is not None
        return _Response(plain, shown, raw, body, links, suspect)

    def _auth_param(self) -> str | None:
        return self.ex.auth.query_param if self.ex.auth else None


# --- the extractor ------------------------------------------------------------------------


class RestExtractor(Extractor):
    """Records from a paginated JSON HTTP API (GET), as frames of text columns.

    Args:
        url: the endpoint; credentials in it are masked wherever it is shown.
        records_path: dotted path of the records array in the body (``data``,
            ``result.items``); None when the body is the array. A body object at the
            path is one record; null is an empty page.
        paginator: the paging scheme (`SinglePage` when None).
        params: query parameters of every request (of the first one for next-URL paging).
        headers: extra request headers.
        auth: `BearerAuth`, `BasicAuth`, `ApiKeyAuth` or `OAuth2ClientCredentials`.
        timeout: seconds to wait for any byte (read, write, pool).
        connect_timeout: seconds to connect.
        total_timeout: seconds one response may take in all (None: no limit).
        max_attempts: tries per request, the first included.
        max_retry_seconds: time budget per request for the retries of transient errors.
        backoff: first backoff in seconds (doubling, plus up to ``backoff`` of jitter).
        max_backoff: the longest backoff between two tries.
        rate_limit: at most this many requests per second (None: no limit).
        cursor_field: column (flattened name) whose largest value is kept in positions.
        cursor_param: query parameter that sends the stored largest value on a new run.
        cursor_start: value sent as ``cursor_param`` on a first run or full refresh.
        flatten_sep: joins nested keys into column names (``address_city``).
        columns: columns every chunk has (null when absent), e.g. optional fields an
            API omits when null; other columns appear from the chunk they are first seen in.
        max_pages: at most this many pages per read; the next run continues after them.
        verify: verify TLS certificates (True), not (False), or with this
            `ssl.SSLContext` (a private CA; such an extractor does not pickle).

    Example:
        >>> ex = RestExtractor("https://api.example.com/v1/customers?api_key=s3cr3t",
        ...                    records_path="data", paginator=CursorPaginator("meta.next"))
        >>> ex.describe()
        'rest GET https://api.example.com/v1/customers?api_key=*** (cursor paging)'
    """

    kind = "rest"

    def __init__(
        self,
        url: str,
        *,
        records_path: str | None = None,
        paginator: Paginator | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: RestAuth | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        total_timeout: float | None = 300.0,
        max_attempts: int = 5,
        max_retry_seconds: float = 300.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        rate_limit: float | None = None,
        cursor_field: str | None = None,
        cursor_param: str | None = None,
        cursor_start: str | None = None,
        flatten_sep: str = "_",
        columns: Sequence[str] = (),
        max_pages: int | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"RestExtractor needs an http(s) URL, not {redact_text(url)!r}.")
        if max_attempts < 1 or max_retry_seconds < 0 or backoff < 0:
            raise ConfigError(
                "RestExtractor: max_attempts must be >= 1, max_retry_seconds and backoff >= 0."
            )
        if rate_limit is not None and rate_limit <= 0:
            raise ConfigError("RestExtractor: rate_limit is requests per second and must be > 0.")
        if cursor_param and not cursor_field:
            raise ConfigError(
                "RestExtractor: cursor_param needs cursor_field (the column whose largest "
                "value is sent as cursor_param on the next run)."
            )
        if max_pages is not None and max_pages < 1:
            raise ConfigError("RestExtractor: max_pages must be >= 1.")
        if not flatten_sep:
            raise ConfigError("RestExtractor: flatten_sep must not be empty.")
        self.url = url
        # a key pasted into the URL or a header: masked wherever it would show (an API
        # may repeat it in an error body)
        for value in secret_params(url).values():
            register_secret(value)
        for name, value in (headers or {}).items():
            if looks_secret(name):
                register_secret(value.removeprefix("Bearer ").removeprefix("Basic "))
        self.records_path = records_path
        self.paginator = paginator or SinglePage()
        self.params = dict(params or {})
        self.headers = dict(headers or {})
        self.auth = auth
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.rate_limit = rate_limit
        self.cursor_field = cursor_field
        self.cursor_param = cursor_param
        self.cursor_start = cursor_start
        self.flatten_sep = flatten_sep
        self.columns = list(columns)
        self.max_pages = max_pages
        self.verify = verify

    def describe(self) -> str:
        text = f"rest GET {redact_text(self.url)} ({self.paginator.describe()}"
        if self.auth is not None:
            text += f", {self.auth.describe()}"
        if self.cursor_field:
            text += f", incremental on {self.cursor_field}"
        return text + ")"

    # -- positions --

    def _start(self, state: dict[str, Any] | None) -> tuple[dict[str, Any], str | None, str | None]:
        """(paging state, since, cursor max) to start a read from."""
        if state is None:
            return self.paginator.first(), self.cursor_start, self.cursor_start
        shown = redact_text(self.url)
        if state.get("kind") != self.paginator.kind or state.get("url") != shown:
            raise ConfigError(
                f"the saved position was written for {state.get('url')!r} with "
                f"{state.get('kind')!r} paging, not {shown!r} with {self.paginator.kind!r} "
                "paging; run with --full-refresh (state=None) to read from the start."
            )
        if state.get("next") is None:  # the last run finished: a new (incremental) run
            since = state.get("cursor_max") if self.cursor_param else None
            since = since if since is not None else self.cursor_start
            return self.paginator.first(), since, state.get("cursor_max")
        return dict(state["next"]), state.get("since"), state.get("cursor_max")

    def _position(
        self, nxt: dict[str, Any] | None, since: str | None, cursor_max: str | None
    ) -> dict[str, Any]:
        if nxt and nxt.get("url"):
            hidden = secret_params(self.url)
            nxt = {**nxt, "url": functools.reduce(strip_param, hidden, nxt["url"])}
        return {
            "kind": self.paginator.kind,
            "url": redact_text(self.url),
            "next": nxt,
            "since": since,
            "cursor_max": cursor_max,
        }

    # -- reading --

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        """Yield chunks of whole pages, resuming after `state` (see the module docs)."""
        if slice != "all":
            raise ConfigError(f"RestExtractor has one slice, 'all', not {slice!r}.")
        if chunk_size < 1:
            raise ConfigError("chunk_size must be >= 1.")
        page_state, since, cursor_max = self._start(state)
        if self.auth is not None:
            self.auth.resolve()
        params = dict(self.params)
        if self.cursor_param and since is not None:
            params[self.cursor_param] = since
        session = _Session(self)
        try:
            yield from self._chunks(
                session, page_state, params, since, cursor_max, state, chunk_size
            )
        finally:
            session.close()

    def _chunks(
        self,
        session: _Session,
        page_state: dict[str, Any],
        params: dict[str, Any],
        since: str | None,
        cursor_max: str | None,
        incoming: dict[str, Any] | None,
        chunk_size: int,
    ) -> Iterator[Chunk]:
        memory: dict[str, Any] = {}  # the paginator's loop guard
        origins: dict[str, tuple[str, ...]] = {}  # column -> key path, for collisions
        auth_param = self.auth.query_param if self.auth else None
        # Credentials typed into the URL's query: sent with every request, also one a
        # position's next URL lacks (`_position` strips them: an API may echo them).
        hidden = secret_params(self.url)
        buffer: list[_Page] = []
        held = 0
        last = incoming
        nxt: dict[str, Any] | None = page_state
        # Bounded by the last page, the paginator's loop guard, or max_pages.
        for _ in range(self.max_pages or sys.maxsize):
            url, query = self.paginator.request(self.url, params, page_state)
            if hidden and url != self.url:
                query = {**query, **hidden}
            response = session.get(url, query)
            page = self._page(response, origins)
            if held and held + page.received > chunk_size:
                chunk, cursor_max = self._chunk(buffer, origins, page_state, since, cursor_max)
                yield chunk
                last, buffer, held = chunk.position, [], 0
            buffer.append(page)
            held += page.received
            result = PageResult(
                response.body,
                page.received,
                response.url,
                response.links,
                PageResult.hash(response.raw),
            )
            nxt = self.paginator.advance(page_state, result, memory)
            if nxt is None:
                break
            if "url" in nxt and nxt["url"]:
                nxt = {**nxt, "url": strip_param(nxt["url"], auth_param)}
            page_state = nxt
        chunk, cursor_max = self._chunk(buffer, origins, nxt, since, cursor_max)
        if held or chunk.position != last:
            yield chunk

    def _records(self, response: _Response) -> list[Any]:
        records = json_path(response.body, self.records_path, _MISSING)
        if records is _MISSING:
            keys = list(response.body)[:10] if isinstance(response.body, dict) else []
            raise ExtractError(
                f"GET {response.shown}: no {self.records_path!r} in the response body "
                f"(top-level keys: {keys}); set records_path to the dotted path of the "
                "records array.",
                url=response.shown,
            )
        if records is None:
            return []
        if isinstance(records, dict):
            return [records]
        if not isinstance(records, list):
            raise ExtractError(
                f"GET {response.shown}: {self.records_path or 'the body'} is a "
                f"{type(records).__name__}, not an array of records; check records_path.",
                url=response.shown,
            )
        return records

    def _page(self, response: _Response, origins: dict[str, tuple[str, ...]]) -> _Page:
        records = self._records(response)
        prefix = f"{response.shown}#"
        rejects = None
        good: list[Any] = records
        index: list[int] | None = None
        if set(map(type, records)) - {dict}:  # a cold path: only bad pages
            index = [i for i, r in enumerate(records) if r.__class__ is dict]
            good = [records[i] for i in index]
            bad = [i for i, r in enumerate(records) if r.__class__ is not dict]
            rejects = _rejects(
                prefix,
                bad,
                [records[i] for i in bad],
                "json_object",
                "the record is not a JSON object",
            )
        if response.suspect:  # a cold path: records holding text PostgreSQL cannot store
            ids = index if index is not None else list(range(len(records)))
            unstorable = {i for i in ids if fault_in(records[i])}
            if unstorable:
                index = [i for i in ids if i not in unstorable]
                good = [records[i] for i in index]
                found = _unstorable(prefix, sorted(unstorable), records)
                rejects = found if rejects is None else pl.concat([rejects, found])
        frame = records_frame(good, self.flatten_sep, origins)
        if good and frame.width == 0:  # only empty objects: no column can hold them
            ids = index if index is not None else list(range(len(good)))
            empty = _rejects(prefix, ids, good, "empty_object", "the record is an empty object")
            rejects = empty if rejects is None else pl.concat([rejects, empty])
            good, index = [], []
        labels = pl.Series(index if index is not None else range(len(good)), dtype=pl.Int64)
        return _Page(
            frame,
            prefix + labels.cast(pl.String),
            rejects,
            len(records),
            len(response.raw),
            response.shown,
        )

    def _chunk(
        self,
        pages: list[_Page],
        origins: dict[str, tuple[str, ...]],
        nxt: dict[str, Any] | None,
        since: str | None,
        cursor_max: str | None,
    ) -> tuple[Chunk, str | None]:
        frames = [p.frame for p in pages if p.frame.height]
        order = [*self.columns, *(c for c in origins if c not in self.columns)]
        if frames:
            frame = pl.concat(frames, how="diagonal")
            missing = [c for c in order if c not in frame.columns]
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
            frame = frame.select(order)
        else:
            frame = pl.DataFrame(schema={c: pl.String for c in order})
        if self.cursor_field and frame.height:
            if self.cursor_field not in frame.columns:
                raise ConfigError(
                    f"cursor_field {self.cursor_field!r} is not a column of the records "
                    f"(columns: {frame.columns[:20]}); use the flattened column name."
                )
            cursor_max = max_cursor(frame.get_column(self.cursor_field), cursor_max)
        sources = [p.sources for p in pages if p.frame.height]
        rejects = [p.rejects for p in pages if p.rejects is not None]
        chunk = Chunk(
            frame,
            source=pages[0].shown if pages else redact_text(self.url),
            position=self._position(nxt, since, cursor_max),
            sources=pl.concat(sources) if sources else pl.Series([], dtype=pl.String),
            rejects=pl.concat(rejects) if rejects else None,
            bytes_read=sum(p.nbytes for p in pages),
        )
        return chunk, cursor_max


def _unstorable(prefix: str, indices: list[int], records: list[Any]) -> pl.DataFrame:
    """Records holding a NUL, a lone surrogate or bytes that are not UTF-8, as rejects:
    each such field escaped and named (`storable_record`), numbers kept as received."""
    kept = [storable_record(records[i], [], f"{prefix}{i}") for i in indices]
    return pl.DataFrame(
        {
            "source": [f"{prefix}{i}" for i in indices],
            "raw": [to_json_text(raw) for raw, _ in kept],
            "errors": [json.dumps(errors, ensure_ascii=False) for _, errors in kept],
        },
        schema=REJECT_SCHEMA,
    )


def _rejects(
    prefix: str, indices: list[int], values: list[Any], check: str, message: str
) -> pl.DataFrame:
    texts = [to_json_text(v) for v in values]
    return reject_frame(
        [f"{prefix}{i}" for i in indices],
        [json.loads(t) for t in texts],  # plain values: reject_frame re-serialises them
        [[{"column": None, "check": check, "value": t[:200], "message": message}] for t in texts],
    )

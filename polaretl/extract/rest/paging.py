"""Pagination for `RestExtractor`: how to ask for the next page, and when to stop.

A paginator is a small, picklable description of an API's paging scheme. The
extractor keeps a *paging state* (a JSON-serialisable dict such as ``{"page": 3}``,
``{"offset": 200}``, ``{"cursor": "abc"}`` or ``{"url": "https://..."}``) and asks
the paginator two questions:

- `Paginator.request`: which URL and query parameters fetch the page of this state;
- `Paginator.advance`: given the page just received, what is the next state
  (None: that was the last page)?

The state of the page *after* the last one a chunk holds is what goes into the
chunk's position, so a resumed run starts exactly where the last committed chunk ended.

| paginator | next page | ends when |
|---|---|---|
| `PageNumberPaginator` | ``page=N+1`` | empty page, ``total_pages_path``, or a short page |
| `OffsetPaginator` | ``offset += records received`` | empty page, ``total_path``, or a short page |
| `CursorPaginator` | ``cursor=<value at cursor_path>`` | the value is missing, null or empty |
| `NextUrlPaginator` | the URL at ``next_path`` in the body | the value is missing, null or empty |
| `LinkHeaderPaginator` | the ``Link: <...>; rel="next"`` header | no such link |

A cursor or next URL the API already returned, or two identical consecutive pages
(an API that ignores the page parameter), raise `ExtractError`: an endless loop.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from polaretl.errors import ConfigError, ExtractError
from polaretl.redact import redact_text

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageResult",
    "Paginator",
    "SinglePage",
    "json_path",
    "strip_param",
]

_MISSING: Any = object()


def json_path(body: Any, path: str | None, default: Any = None) -> Any:
    """The value at a dotted path in a parsed JSON body (``default`` when absent).

    Parts are object keys; a part made of digits indexes an array. An empty path
    returns the body itself.

    Example:
        >>> json_path({"meta": {"next": "abc"}, "data": [{"id": 1}]}, "meta.next")
        'abc'
        >>> json_path({"data": [{"id": 1}]}, "data.0.id")
        1
        >>> json_path({"data": []}, "meta.next", default="absent")
        'absent'
    """
    if not path:
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
        if node is _MISSING:
            return default
    return node


def strip_param(url: str, name: str | None) -> str:
    """`url` without the query parameter `name` (an API key an API echoed back).

    Example:
        >>> strip_param("https://api/x?after=9&appid=k", "appid")
        'https://api/x?after=9'
    """
    if not name:
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k != name]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


@dataclass(frozen=True)
class PageResult:
    """What a paginator sees of one received page.

    Args:
        body: the parsed JSON body (numbers are `str` subclasses holding their text).
        count: number of records on the page.
        url: the URL that was fetched (with the page's query parameters).
        links: the parsed ``Link`` header, as `httpx.Response.links`.
        digest: a hash of the body, to notice an API that ignores the page parameter.
    """

    body: Any
    count: int
    url: str
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    digest: str = ""

    @staticmethod
    def hash(raw: bytes) -> str:
        """The digest of a raw body."""
        return hashlib.blake2b(raw, digest_size=16).hexdigest()


class Paginator(ABC):
    """How an API pages. Subclass it for a scheme the ready-made ones do not cover."""

    #: Name stored in positions; a position written by another kind is refused.
    kind: ClassVar[str] = "custom"

    @abstractmethod
    def first(self) -> dict[str, Any]:
        """The paging state of the first page."""

    def request(
        self, url: str, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters that fetch the page of `state`.

        Args:
            url: the extractor's URL.
            params: the extractor's query parameters (plus the incremental one).
            state: the paging state.
        """
        return url, params

    @abstractmethod
    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The paging state after `page`, or None when it was the last page.

        Args:
            state: the state `page` was fetched with.
            page: the page received.
            memory: a dict private to the paginator for one read (loop detection).
        """

    def describe(self) -> str:
        """A short description for `polaretl list`."""
        return f"{self.kind} paging"


def _same_page_guard(page: PageResult, memory: dict[str, Any], where: str) -> None:
    if page.count and memory.get("digest") == page.digest:
        raise ExtractError(
            f"{redact_text(page.url)} returned the same records as the page before it: "
            f"the API seems to ignore {where}, which would page forever. Check the "
            "paginator's parameter names against the API documentation.",
            url=redact_text(page.url),
        )
    memory["digest"] = page.digest


def _as_int(value: Any, what: str, url: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise ExtractError(
            f"{redact_text(url)}: {what} is {str(value)[:40]!r}, not an integer; "
            "check the paginator's path.",
            url=redact_text(url),
        ) from exc


@dataclass(frozen=True)
class SinglePage(Paginator):
    """No paging: one request returns every record.

    Example:
        >>> SinglePage().first()
        {}
    """

    kind: ClassVar[str] = "single"

    def first(self) -> dict[str, Any]:
        return {}

    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True)
class PageNumberPaginator(Paginator):
    """``?page=1``, ``?page=2``, ... until an empty page (or the total, or a short page).

    Args:
        param: the query parameter of the page number.
        start: the number of the first page.
        page_size: sent as ``page_size_param`` when both are set.
        page_size_param: the query parameter of the page size.
        total_pages_path: dotted path of the number of pages in the body; saves
            the request for the empty page at the end.
        stop_on_short_page: stop after a page with fewer than ``page_size`` records
            (only if the API never returns fewer records than asked mid-way).

    Example:
        >>> p = PageNumberPaginator(page_size=2, page_size_param="per_page")
        >>> p.request("https://api/x", {}, {"page": 3})
        ('https://api/x', {'page': 3, 'per_page': 2})
    """

    kind: ClassVar[str] = "page"
    param: str = "page"
    start: int = 1
    page_size: int | None = None
    page_size_param: str | None = None
    total_pages_path: str | None = None
    stop_on_short_page: bool = False

    def __post_init__(self) -> None:
        if self.stop_on_short_page and not self.page_size:
            raise ConfigError("PageNumberPaginator(stop_on_short_page=True) needs page_size.")

    def first(self) -> dict[str, Any]:
        return {"page": self.start}

    def request(
        self, url: str, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        out = {**params, self.param: state["page"]}
        if self.page_size and self.page_size_param:
            out[self.page_size_param] = self.page_size
        return url, out

    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        if page.count == 0:
            return None
        _same_page_guard(page, memory, f"the {self.param!r} parameter")
        number = int(state["page"])
        if self.total_pages_path:
            total = json_path(page.body, self.total_pages_path)
            if total is not None and number >= _as_int(total, self.total_pages_path, page.url):
                return None
        if self.stop_on_short_page and self.page_size and page.count < self.page_size:
            return None
        return {"page": number + 1}


@dataclass(frozen=True)
class OffsetPaginator(Paginator):
    """``?offset=0&limit=100``, ``?offset=100&limit=100``, ... until an empty page.

    The next offset is the current one plus the records *received*, so an API that
    caps the page size below ``limit`` loses nothing.

    Args:
        offset_param: the query parameter of the offset.
        limit_param: the query parameter of the page size.
        limit: the page size asked for.
        total_path: dotted path of the total number of records in the body; saves
            the request for the empty page at the end.
        stop_on_short_page: stop after a page with fewer than ``limit`` records.

    Example:
        >>> OffsetPaginator(limit=50).request("https://api/x", {"q": "a"}, {"offset": 100})
        ('https://api/x', {'q': 'a', 'offset': 100, 'limit': 50})
    """

    kind: ClassVar[str] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    total_path: str | None = None
    stop_on_short_page: bool = False

    def first(self) -> dict[str, Any]:
        return {"offset": 0}

    def request(
        self, url: str, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return url, {**params, self.offset_param: state["offset"], self.limit_param: self.limit}

    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        if page.count == 0:
            return None
        _same_page_guard(page, memory, f"the {self.offset_param!r} parameter")
        offset = int(state["offset"]) + page.count
        if self.total_path:
            total = json_path(page.body, self.total_path)
            if total is not None and offset >= _as_int(total, self.total_path, page.url):
                return None
        if self.stop_on_short_page and page.count < self.limit:
            return None
        return {"offset": offset}


@dataclass(frozen=True)
class CursorPaginator(Paginator):
    """``?cursor=<token>`` where the token of the next page is in the body.

    Args:
        cursor_path: dotted path of the next cursor in the body (e.g. ``meta.next_cursor``);
            missing, null or empty means the last page.
        param: the query parameter the cursor is sent as.

    Example:
        >>> p = CursorPaginator("meta.next")
        >>> page = PageResult({"meta": {"next": "c2"}}, 1, "https://api/x")
        >>> p.advance(p.first(), page, {})
        {'cursor': 'c2'}
    """

    kind: ClassVar[str] = "cursor"
    cursor_path: str = "next_cursor"
    param: str = "cursor"

    def first(self) -> dict[str, Any]:
        return {"cursor": None}

    def request(
        self, url: str, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        if state.get("cursor") is None:
            return url, dict(params)
        return url, {**params, self.param: state["cursor"]}

    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        value = json_path(page.body, self.cursor_path)
        if value is None or value == "" or value is False:
            return None
        cursor = str(value)
        seen: set[str] = memory.setdefault("seen", set())
        if state.get("cursor") is not None:
            seen.add(str(state["cursor"]))
        if cursor in seen:
            raise ExtractError(
                f"{redact_text(page.url)} returned a cursor ({self.cursor_path}) that was "
                "already used: the API would page forever (endless loop). Check "
                "cursor_path and param against the API documentation.",
                url=redact_text(page.url),
            )
        seen.add(cursor)
        return {"cursor": cursor}


def _next_url_state(
    state: dict[str, Any], page: PageResult, target: Any, memory: dict[str, Any], what: str
) -> dict[str, Any] | None:
    if not target or not isinstance(target, str):
        return None
    nxt = urljoin(page.url, target)
    seen: set[str] = memory.setdefault("seen", set())
    seen.add(page.url)
    if state.get("url"):
        seen.add(state["url"])
    if nxt in seen:
        raise ExtractError(
            f"{redact_text(page.url)} returned a next URL ({what}) that was already "
            f"fetched, {redact_text(nxt)}: the API would page forever (endless loop).",
            url=redact_text(page.url),
        )
    return {"url": nxt}


class _FollowsNextUrl(Paginator):
    """Paginators whose next page is a URL the response names (body or header)."""

    def first(self) -> dict[str, Any]:
        return {"url": None}

    def request(
        self, url: str, params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return (url, dict(params)) if state.get("url") is None else (state["url"], {})

    def advance(
        self, state: dict[str, Any], page: PageResult, memory: dict[str, Any]
    ) -> dict[str, Any] | None:
        target, where = self._next(page)
        return _next_url_state(state, page, target, memory, where)

    @abstractmethod
    def _next(self, page: PageResult) -> tuple[Any, str]:
        """The next URL found in `page` (or None) and where it was looked for."""


@dataclass(frozen=True)
class NextUrlPaginator(_FollowsNextUrl):
    """The URL of the next page is in the body (absolute or relative).

    The next URL carries every query parameter itself; the extractor's ``params`` are
    sent with the first page only.

    Args:
        next_path: dotted path of the next URL (e.g. ``links.next``).

    Example:
        >>> p = NextUrlPaginator("links.next")
        >>> page = PageResult({"links": {"next": "/x?after=9"}}, 1, "https://api/x")
        >>> p.advance(p.first(), page, {})
        {'url': 'https://api/x?after=9'}
    """

    kind: ClassVar[str] = "next_url"
    next_path: str = "next"

    def _next(self, page: PageResult) -> tuple[Any, str]:
        return json_path(page.body, self.next_path), self.next_path


@dataclass(frozen=True)
class LinkHeaderPaginator(_FollowsNextUrl):
    """The URL of the next page is in the ``Link`` header (RFC 8288), as GitHub does.

    Args:
        rel: the relation of the next page's link.

    Example:
        >>> p = LinkHeaderPaginator()
        >>> page = PageResult([], 1, "https://api/x", {"next": {"url": "https://api/x?p=2"}})
        >>> p.advance(p.first(), page, {})
        {'url': 'https://api/x?p=2'}
    """

    kind: ClassVar[str] = "link_header"
    rel: str = "next"

    def _next(self, page: PageResult) -> tuple[Any, str]:
        return page.links.get(self.rel, {}).get("url"), f'Link rel="{self.rel}"'

"""Where a file source's bytes live: local paths, or objects in S3, GCS and Azure Blob.

Every file extractor lists, opens and fingerprints its files through this module, so
``s3://bucket/orders/*.csv`` works wherever ``data/orders/*.csv`` does:

- `is_remote` tells an object URL (``s3://``, ``gs://``, ``az://``) from a local path;
  `local_path` turns ``file://`` URLs into paths.
- `expand` lists the objects a glob matches (``*``, ``?``, ``[ab]`` within a segment,
  ``**`` across segments), sorted, as URLs.
- `stat` gives an object's size and identity (ETag, else version): with a hash of its
  edges, that is its fingerprint (`polaretl.extract.files.fingerprint`).
- `open_binary` gives a seekable, buffered binary stream: a sequential reader gets one
  ranged GET streamed as it is consumed (nothing is written to disk, memory stays at a
  couple of buffers); a seek starts a new ranged GET, bounded at first, so reading a
  Parquet footer or a file's last 64 KiB costs one small request. Every request names
  the ETag seen when the read began (``If-Match``): an object replaced mid-read fails
  the read instead of mixing two versions.
- `arrow_input` is what pyarrow readers take: the path itself for a local file (read
  natively), else `open_binary`.

The library is obstore (Rust's ``object_store``, also inside Polars): one small
install for the three clouds, no boto stack, the GIL released while bytes move.
Credentials come from the provider's usual chain as ``object_store`` reads it: the
standard environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for an S3-compatible server;
``GOOGLE_SERVICE_ACCOUNT``/``GOOGLE_APPLICATION_CREDENTIALS``;
``AZURE_STORAGE_ACCOUNT_NAME``/``AZURE_STORAGE_ACCOUNT_KEY``...), web identity and the
instance or container role (``~/.aws`` profiles are not read: export their keys). A
URL carrying credentials is refused; secrets never show in a label or a message.

Throttling (503 SlowDown, 429) and dropped connections are retried with exponential
backoff, within ``POLARETL_STORAGE_RETRIES`` attempts (default 10) and
``POLARETL_STORAGE_RETRY_SECONDS`` (default 120): by ``object_store`` for each request
(a status it gave up on is not retried again here), and here for a body cut off
mid-stream (the read resumes at the byte it reached). The settings are read when a
store is made, not at import.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit

import obstore
import obstore.exceptions as obx
from obstore.store import from_url
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from polaretl.errors import ConfigError, ExtractError
from polaretl.redact import redact_text, redact_url, register_secret
from polaretl.settings import current

#: URL schemes read through an object store.
REMOTE_SCHEMES = ("s3", "gs", "az")

#: The first request after a seek asks for at most this many bytes (more only when the
#: caller reads more at once); reading on past it streams the rest in one GET.
FIRST_RANGE = 256 << 10
#: Bytes handed over from a streaming GET at a time (`open_binary` buffers `FIRST_RANGE`).
STREAM_CHUNK = 2 << 20

_GLOB_CHARS = re.compile(r"[*?\[]")
#: Environment variables that configure or authenticate a store (a change makes a new one).
_ENV_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_", "POLARETL_STORAGE_")
_SECRET_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is an object-store URL (``s3://``, ``gs://``, ``az://``).

    Example:
        >>> is_remote("s3://bucket/a.csv"), is_remote("data/a.csv"), is_remote("file:///a")
        (True, False, False)
    """
    text = os.fspath(path)
    return text.partition("://")[0].lower() in REMOTE_SCHEMES and "://" in text


def local_path(path: str | os.PathLike[str]) -> str:
    """A local path for `path`, which may be a ``file://`` URL.

    Example:
        >>> local_path("file:///data/a%20b.csv"), local_path("data/a.csv")
        ('/data/a b.csv', 'data/a.csv')
    """
    text = os.fspath(path)
    if text[:7].lower() == "file://":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{text!r}: a file:// URL names a local path, not a host.")
        return unquote(parts.path)
    return text


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size and identity as the store reports them."""

    url: str
    size: int
    etag: str | None
    version: str | None

    @property
    def tag(self) -> str:
        """The ETag, else the version id, else ``-`` (a store that gives neither)."""
        return (self.etag or self.version or "-").strip('"')


def _split(url: str) -> tuple[str, str, str]:
    """``s3://bucket/a/b.csv`` -> ("s3", "bucket", "a/b.csv"); refuses credentials.

    Not `urlsplit`: a key may hold ``?`` and ``#`` (globs, odd names) taken literally.
    """
    scheme, _, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    if "@" in bucket:
        raise ConfigError(
            f"{redact_url(url)}: object URLs take no credentials. Give them through the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...) or the machine's "
            "role.",
        )
    if not bucket:
        raise ConfigError(f"{url!r} names no bucket: write {scheme}://BUCKET/KEY.")
    return scheme.lower(), bucket, key


def retry_budget() -> tuple[int, float]:
    """(retries, seconds): ``POLARETL_STORAGE_RETRIES`` and ``POLARETL_STORAGE_RETRY_SECONDS``.

    Example:
        >>> retry_budget()
        (10, 120.0)
    """
    settings = current()
    return max(0, settings.storage_retries), max(1.0, settings.storage_retry_seconds)


def _store(scheme: str, bucket: str) -> Any:
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)))
    return _cached_store(scheme, bucket, env, os.getpid())


@lru_cache(maxsize=32)
def _cached_store(scheme: str, bucket: str, env: tuple[tuple[str, str], ...], pid: int) -> Any:
    """One store per bucket, environment and process (a forked worker makes its own)."""
    settings = dict(env)
    for name in _SECRET_VARS:
        register_secret(settings.get(name))
    retries, seconds = retry_budget()
    endpoint = settings.get("AWS_ENDPOINT_URL_S3") or settings.get("AWS_ENDPOINT_URL") or ""
    client: dict[str, Any] = {"allow_http": endpoint.lower().startswith("http://")}
    retry = {
        "max_retries": retries,
        "retry_timeout": timedelta(seconds=seconds),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=5),
        },
    }
    try:
        return from_url(f"{scheme}://{bucket}", client_options=client, retry_config=retry)  # type: ignore[call-overload]
    except (obx.BaseError, ValueError) as exc:
        raise ConfigError(
            f"Cannot set up access to {scheme}://{bucket}: {_first_line(exc)}. Check the "
            "storage settings in the environment.",
        ) from exc


def _first_line(exc: BaseException) -> str:
    """The error's first line, secrets masked (object_store appends a long debug dump)."""
    return redact_text(str(exc).strip().split("\n", 1)[0]).rstrip(":. ")


def _error(exc: BaseException, url: str, doing: str) -> ExtractError:
    """An `ExtractError` that says what to do, from an object-store failure."""
    cause = _first_line(exc)
    if isinstance(exc, (FileNotFoundError, obx.NotFoundError)):
        return ExtractError(
            f"{url} does not exist ({doing}): it was deleted or renamed. Run again: the "
            "glob is listed anew.",
            path=url,
        )
    if _refused(exc):
        key = os.environ.get("AWS_ACCESS_KEY_ID", "")
        shown = f"{key[:4]}…" if key else "unset"
        return ExtractError(
            f"Access to {url} was refused while {doing}: {cause}. Check the credentials "
            f"polaretl takes from the environment or the machine's role (AWS_ACCESS_KEY_ID "
            f"{shown}; AWS_SECRET_ACCESS_KEY is never shown), the region and the bucket "
            "policy.",
            path=url,
        )
    if isinstance(exc, obx.PreconditionError):
        return ExtractError(
            f"{url} was replaced while {doing}. Run again: the new object is read from the "
            "start; batches already committed are kept.",
            path=url,
        )
    retries, seconds = retry_budget()
    return ExtractError(
        f"Reading {url} failed while {doing}, after up to {retries} retries within "
        f"{seconds:.0f} s: {cause}. The store is unreachable or throttling; run again "
        "(committed batches are kept) or raise POLARETL_STORAGE_RETRIES / "
        "POLARETL_STORAGE_RETRY_SECONDS.",
        path=url,
    )


#: Errors a retry cannot fix: the object is gone, changed, or access is refused.
_TERMINAL = (
    FileNotFoundError,
    PermissionError,
    obx.NotFoundError,
    obx.PreconditionError,
    obx.PermissionDeniedError,
    obx.UnauthenticatedError,
    obx.InvalidPathError,
    obx.NotSupportedError,
)


_REFUSED_STATUS = re.compile(r"\b(401 Unauthorized|403 Forbidden)\b")


def _refused(exc: BaseException) -> bool:
    """Access refused: by its type, or a 401/403 that object_store left generic (lists)."""
    refused = (PermissionError, obx.PermissionDeniedError, obx.UnauthenticatedError)
    return isinstance(exc, refused) or bool(_REFUSED_STATUS.search(str(exc)))


#: How object_store words a request it has already retried to the end of the budget.
_RETRIED = "Server returned non-2xx status code"


def _transient(exc: BaseException) -> bool:
    """Worth another try here: a body cut off mid-stream, not a status object_store has
    already retried within the same budget (that would square the budget)."""
    return (
        isinstance(exc, (obx.BaseError, OSError))
        and not isinstance(exc, _TERMINAL)
        and not _refused(exc)
        and _RETRIED not in str(exc)
    )


def _retrying() -> Retrying:
    retries, seconds = retry_budget()
    return Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(retries + 1) | stop_after_delay(seconds),
        wait=wait_exponential(multiplier=0.1, max=5) + wait_random(0, 0.1),
        reraise=True,
    )


def stat(url: str) -> ObjectInfo:
    """Size, ETag and version of the object at `url`.

    Raises:
        ExtractError: the object is missing, access is refused, or the store failed.
    """
    scheme, bucket, key = _split(url)
    try:
        meta = obstore.head(_store(scheme, bucket), key)
    except (obx.BaseError, OSError) as exc:
        raise _error(exc, url, "reading its metadata") from exc
    return ObjectInfo(url, int(meta["size"]), meta.get("e_tag"), meta.get("version"))


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression for a glob over ``/``-separated keys.

    Example:
        >>> bool(glob_regex("a/**/*.csv").fullmatch("a/x/y/b.csv")), bool(
        ...     glob_regex("a/*.csv").fullmatch("a/x/b.csv"))
        (True, False)
    """
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def expand(pattern: str) -> list[str]:
    """The object URLs a glob matches, sorted; ``[]`` when none (or no such bucket path).

    A pattern without glob characters names one object. Keys ending in ``/`` (folder
    markers) are never files.

    Raises:
        ExtractError: access is refused or the store failed.
    """
    scheme, bucket, key = _split(pattern)
    base = f"{scheme}://{bucket}/"
    if not _GLOB_CHARS.search(key):
        try:
            return [stat(pattern).url]
        except ExtractError as exc:
            if isinstance(exc.__cause__, (FileNotFoundError, obx.NotFoundError)):
                return []
            raise
    head = _GLOB_CHARS.split(key, 1)[0]
    prefix = head.rpartition("/")[0] or None
    wanted = glob_regex(key)
    store = _store(scheme, bucket)
    shallow = "**" not in key and "/" not in key[len(head) :]
    try:
        if shallow:  # globs in the last segment only: list one "folder", not the tree
            metas = obstore.list_with_delimiter(store, prefix)["objects"]
        else:
            metas = [m for batch in obstore.list(store, prefix) for m in batch]
    except (obx.BaseError, OSError) as exc:
        raise _error(exc, redact_url(pattern), "listing it") from exc
    return sorted(
        base + m["path"]
        for m in metas
        if not m["path"].endswith("/") and wanted.fullmatch(m["path"])
    )


class _RangedReader(io.RawIOBase):
    """A seekable raw stream over one object version: ranged GETs, streamed, retried."""

    def __init__(self, info: ObjectInfo) -> None:
        super().__init__()
        scheme, bucket, self._key = _split(info.url)
        self._store = _store(scheme, bucket)
        self.info = info
        self._pos = 0
        self._stream: Iterator[Any] | None = None
        self._stream_end = 0  # where the open GET's range ends
        self._pending = memoryview(b"")  # bytes received, not yet read
        self.requests = 0  # GETs issued (for tests and metrics)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.info.size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop()
            self._pos = target
        return self._pos

    def close(self) -> None:
        self._drop()
        super().close()

    def _drop(self) -> None:
        self._stream, self._pending = None, memoryview(b"")

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view) or self._pos >= self.info.size:
            return 0
        if not self._pending:
            for attempt in _retrying():
                with attempt:
                    self._fill(len(view))
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def _fill(self, wanted: int) -> None:
        """Make `_pending` hold the next bytes, opening a GET at `_pos` if needed."""
        try:
            while not self._pending:
                if self._stream is None:
                    self._open(wanted)
                assert self._stream is not None
                chunk = next(self._stream, None)
                if chunk is None:  # this range is read
                    if self._pos < self._stream_end:
                        raise ConnectionError(f"the response for {self.info.url} ended early")
                    self._stream = None
                    continue
                self._pending = memoryview(bytes(chunk))
        except (obx.BaseError, OSError):
            self._drop()  # the retry reopens at the byte reached
            raise

    def _open(self, wanted: int) -> None:
        size = self.info.size
        if self._stream_end == self._pos and self._pos:  # reading on: stream the rest
            end = size
        else:  # after a seek: a bounded range first
            end = min(size, self._pos + max(wanted, FIRST_RANGE))
        options: dict[str, Any] = {"range": (self._pos, end)}
        if self.info.etag:
            options["if_match"] = self.info.etag
        elif self.info.version:
            options["version"] = self.info.version
        self.requests += 1
        result = obstore.get(self._store, self._key, options=options)  # type: ignore[arg-type]
        self._stream = iter(result.stream(min_chunk_size=min(STREAM_CHUNK, end - self._pos)))
        self._stream_end = end


def open_binary(path: str, info: ObjectInfo | None = None) -> io.BufferedReader:
    """A buffered, seekable binary stream over a local file or an object.

    Args:
        path: a local path, ``file://`` URL or object URL.
        info: the object's `stat`, when known (saves a request, and pins the version
            that was fingerprinted: a replaced object then fails the read).

    Raises:
        ExtractError: the object is missing, access is refused, or the store failed
            (reads raise it too, from the stream).
    """
    if not is_remote(path):
        return open(local_path(path), "rb")  # noqa: SIM115 - the caller closes it
    info = info or stat(path)
    return _Buffered(_RangedReader(info), info.url)


_T = TypeVar("_T")


class _Buffered(io.BufferedReader):
    """`io.BufferedReader` whose errors are `ExtractError`s that say what to do."""

    def __init__(self, raw: _RangedReader, url: str) -> None:
        # small: a small read after a seek (an edge, a footer) fetches no more than this
        super().__init__(raw, buffer_size=FIRST_RANGE)
        self.url = url

    def read(self, size: int | None = -1, /) -> bytes:
        return self._call(super().read, size)

    def read1(self, size: int = -1, /) -> bytes:
        return self._call(super().read1, size)

    def readinto(self, buffer: Any, /) -> int:
        return self._call(super().readinto, buffer)

    def peek(self, size: int = 0, /) -> bytes:
        return self._call(super().peek, size)

    def readline(self, size: int | None = -1, /) -> bytes:
        return self._call(super().readline, size)

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _call(self, method: Callable[..., _T], *args: Any) -> _T:
        try:
            return method(*args)
        except (obx.BaseError, ConnectionError, TimeoutError) as exc:
            raise _error(exc, self.url, "reading it") from exc


def arrow_input(path: str, info: ObjectInfo | None = None) -> str | BinaryIO:
    """What a pyarrow reader takes: a local path (read natively), else `open_binary`."""
    return open_binary(path, info) if is_remote(path) else local_path(path)


def expand_all(patterns: Sequence[str]) -> list[str]:
    """The union of the objects every pattern in `patterns` matches, sorted."""
    return sorted({url for pattern in patterns for url in expand(pattern)})

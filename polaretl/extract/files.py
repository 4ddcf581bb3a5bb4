"""Shared helpers of file sources: one slice per file, fingerprinted, resumable.

A file extractor expands a glob into files (`expand_glob`), reads each file as one
slice, and stores ``{"fp": fingerprint(path), "offset": N, "done": bool}`` as the
slice's position. On the next run `resume_offset` decides, from that state and the
file's current fingerprint, whether to skip the file (finished and unchanged), read it
from the start (new or changed) or resume after ``offset`` records.

The fingerprint is the size, the modification time in nanoseconds and a BLAKE2b hash of
the first and last 64 KiB: cheap on a file of any size, and it changes when a file is
rewritten, appended to or touched. (An edit in the middle of a large file that keeps
size and mtime is not seen; no real writer does that.) An object in a store (``s3://``,
``gs://``, ``az://``; see `storage`) is fingerprinted the same way with its ETag (else
its version id) in place of the mtime: ``"<size>:<etag>:<hash of its edges>"``, the
edges read with two small ranged GETs. A line-based source may pass
``appended=path``: a file that only grew after a line break (its old first and last
64 KiB hash as before) resumes after the records already read, not from the start.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from polaretl.errors import ExtractError

from . import storage
from .base import Extractor

#: Bytes hashed at each end of a file by `fingerprint`.
EDGE_BYTES = 64 * 1024


def expand_glob(pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files matching `pattern`, sorted, as paths in the form the pattern gives.

    ``**`` matches any depth; directories are left out; a list of globs gives the
    union of their files, each once. Object URLs (``s3://bucket/orders/*.csv``) list
    the store (`storage.expand`); ``file://`` URLs are local paths.

    Args:
        pattern: a path or a glob such as ``data/orders/*.csv``, or a list of them.

    Returns:
        Sorted file paths (relative when the pattern is relative); empty when none match.

    Example:
        >>> expand_glob("/nonexistent/*.csv"), expand_glob(["/nonexistent/a", "/nonexistent/b"])
        ([], [])
    """
    patterns = [pattern] if isinstance(pattern, (str, os.PathLike)) else list(pattern)
    found: set[str] = set()
    for one in patterns:
        if storage.is_remote(one):
            found.update(storage.expand(os.fspath(one)))
            continue
        local = storage.local_path(one)
        found.update(path for path in glob.glob(local, recursive=True) if os.path.isfile(path))
    return sorted(found)


def fingerprint(path: str) -> str:
    """A short text that changes when the file at `path` changes.

    Args:
        path: a readable file.

    Returns:
        ``"<size>:<mtime_ns>:<blake2b hex of the first and last 64 KiB>"``; for an
        object URL, its ETag (else version id) in place of the mtime.

    Raises:
        ExtractError: the file cannot be read.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> fingerprint(f.name).startswith("3:")
        True
    """
    if storage.is_remote(path):
        info = storage.stat(path)
        with storage.open_binary(path, info) as handle:
            return f"{info.size}:{info.tag}:{_edges(handle, info.size)}"
    try:
        with open(storage.local_path(path), "rb") as handle:
            stat = os.fstat(handle.fileno())
            digest = _edges(handle, stat.st_size)
    except OSError as exc:
        raise ExtractError(
            f"Cannot read {path!r}: {exc.strerror or exc}. Check that the file exists and "
            "is readable by the user running polaretl.",
            path=path,
        ) from exc
    return f"{stat.st_size}:{stat.st_mtime_ns}:{digest}"


def _edges(handle: BinaryIO, size: int) -> str:
    """The hash of the first and last `EDGE_BYTES` of the file's first `size` bytes."""
    digest = hashlib.blake2b(digest_size=16)
    handle.seek(0)
    digest.update(handle.read(min(EDGE_BYTES, size)))
    if size > EDGE_BYTES:
        handle.seek(max(EDGE_BYTES, size - EDGE_BYTES))
        digest.update(handle.read(size - max(EDGE_BYTES, size - EDGE_BYTES)))
    return digest.hexdigest()


def appended_to(path: str, old: str) -> bool:
    """Whether the file at `path` is the file fingerprinted `old` with bytes added at its
    end, after a line break: its first ``size`` bytes hash as the old file did.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"a\\n")
        >>> old = fingerprint(f.name)
        >>> with open(f.name, "ab") as more:
        ...     _ = more.write(b"b\\n")
        >>> appended_to(f.name, old), appended_to(f.name, "3:1:00")
        (True, False)
    """
    size_text, _, rest = old.partition(":")
    digest = rest.partition(":")[2]
    try:
        size = int(size_text)
        with storage.open_binary(path) as handle:
            if handle.seek(0, os.SEEK_END) <= size:
                return False
            handle.seek(max(size - 1, 0))
            if size and handle.read(1) not in (b"\n", b"\r"):
                return False  # the old last line was unfinished: a record changed
            return _edges(handle, size) == digest
    except (OSError, ValueError, ExtractError):
        return False


def matching_files(
    patterns: str | Path | Sequence[str | Path],
    *,
    missing_ok: bool,
    shown: str,
    what: str = "file",
) -> list[str]:
    """`expand_glob(patterns)`; none matching is an `ExtractError` (a wrong path must not
    be a silent empty run) unless `missing_ok`. `shown`: the patterns as the user wrote them."""
    files = expand_glob(patterns)
    if not files and not missing_ok:
        where = "" if "://" in shown else f" (relative to {Path.cwd()})"
        raise ExtractError(
            f"No {what} matches {shown}{where}. Check the path, "
            "or pass missing_ok=True to succeed with nothing to load.",
            path=shown,
        )
    return files


def resume_offset(
    state: dict[str, Any] | None, fp: str, *, appended: str | None = None
) -> int | None:
    """Where to start reading a file slice, given its saved `state` and fingerprint `fp`.

    Args:
        state: the slice's last committed position (``fp``, ``offset``, ``done``) or None.
        fp: the file's current `fingerprint`.
        appended: the file's path, for a source whose records are lines: when the state
            says ``appendable`` and the file only grew at its end (`appended_to`), the
            records read before are not read again.

    Returns:
        None when the file is finished and unchanged (read nothing), 0 when it is new or
        changed (read from the start), else the saved ``offset`` to resume after.

    Example:
        >>> resume_offset(None, "3:1:ab"), resume_offset({"fp": "3:1:ab", "offset": 7}, "3:1:ab")
        (0, 7)
        >>> resume_offset({"fp": "3:1:ab", "offset": 9, "done": True}, "3:1:ab") is None
        True
        >>> resume_offset({"fp": "old", "offset": 9, "done": True}, "3:1:ab")
        0
    """
    if not state:
        return 0
    old = state.get("fp")
    if old != fp:
        grown = state.get("appendable") is True and isinstance(old, str)
        if appended is not None and grown and appended_to(appended, str(old)):
            return int(state.get("offset", 0))  # only new records follow what was read
        return 0
    if state.get("done"):
        return None
    return int(state.get("offset", 0))


class FileExtractor(Extractor):
    """Base of the extractors that read a glob of files, one slice per file.

    Args:
        path: a glob of files (``data/partners/*.xml``) or a list of globs.
        missing_ok: succeed with nothing to do when no file matches (default: fail, so
            a typo in a path is not a silent empty run).
    """

    kind = "files"

    def __init__(
        self, path: str | Path | Sequence[str | Path], *, missing_ok: bool = False
    ) -> None:
        self.path = path
        self.missing_ok = missing_ok

    def slices(self) -> list[str]:
        """One slice per matching file, sorted."""
        return matching_files(self.path, missing_ok=self.missing_ok, shown=str(self.path))

    def describe(self) -> str:
        return f"{self.kind}:{self.path}"

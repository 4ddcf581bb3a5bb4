"""Shared helpers of file sources: one slice per file, fingerprinted, resumable.

A file extractor expands a glob into files (`expand_glob`), reads each file as one
slice, and stores ``{"fp": fingerprint(path), "offset": N, "done": bool}`` as the
slice's position. On the next run `resume_offset` decides, from that state and the
file's current fingerprint, whether to skip the file (finished and unchanged), read it
from the start (new or changed) or resume after ``offset`` records.

The fingerprint is the size, the modification time in nanoseconds and a BLAKE2b hash of
the first and last 64 KiB: cheap on a file of any size, and it changes when a file is
rewritten, appended to or touched. (An edit in the middle of a large file that keeps
size and mtime is not seen; no real writer does that.)
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polaretl.errors import ExtractError

from .base import Extractor

#: Bytes hashed at each end of a file by `fingerprint`.
EDGE_BYTES = 64 * 1024


def expand_glob(pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files matching `pattern`, sorted, as paths in the form the pattern gives.

    ``**`` matches any depth; directories are left out; a list of globs gives the
    union of their files, each once.

    Args:
        pattern: a path or a glob such as ``data/orders/*.csv``, or a list of them.

    Returns:
        Sorted file paths (relative when the pattern is relative); empty when none match.

    Example:
        >>> expand_glob("/nonexistent/*.csv"), expand_glob(["/nonexistent/a", "/nonexistent/b"])
        ([], [])
    """
    patterns = [pattern] if isinstance(pattern, (str, os.PathLike)) else list(pattern)
    return sorted(
        {
            path
            for one in patterns
            for path in glob.glob(os.fspath(one), recursive=True)
            if os.path.isfile(path)
        }
    )


def fingerprint(path: str) -> str:
    """A short text that changes when the file at `path` changes.

    Args:
        path: a readable file.

    Returns:
        ``"<size>:<mtime_ns>:<blake2b hex of the first and last 64 KiB>"``.

    Raises:
        ExtractError: the file cannot be read.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> fingerprint(f.name).startswith("3:")
        True
    """
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            digest.update(handle.read(EDGE_BYTES))
            if stat.st_size > EDGE_BYTES:
                handle.seek(max(EDGE_BYTES, stat.st_size - EDGE_BYTES))
                digest.update(handle.read(EDGE_BYTES))
    except OSError as exc:
        raise ExtractError(
            f"Cannot read {path!r}: {exc.strerror or exc}. Check that the file exists and "
            "is readable by the user running polaretl.",
            path=path,
        ) from exc
    return f"{stat.st_size}:{stat.st_mtime_ns}:{digest.hexdigest()}"


def resume_offset(state: dict[str, Any] | None, fp: str) -> int | None:
    """Where to start reading a file slice, given its saved `state` and fingerprint `fp`.

    Args:
        state: the slice's last committed position (``fp``, ``offset``, ``done``) or None.
        fp: the file's current `fingerprint`.

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
    if not state or state.get("fp") != fp:
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
        files = expand_glob(self.path)
        if not files and not self.missing_ok:
            raise ExtractError(
                f"No file matches {self.path!s} (relative to {Path.cwd()}). Check the path, "
                "or pass missing_ok=True to succeed with nothing to load.",
                path=str(self.path),
            )
        return files

    def describe(self) -> str:
        return f"{self.kind}:{self.path}"

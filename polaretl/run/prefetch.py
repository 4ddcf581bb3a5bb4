"""Overlap stages: produce the next item in a thread while the caller consumes this one.

Polars, pyarrow and psycopg's COPY release the GIL, so extracting and validating chunk
N+1 runs on the second core while chunk N is being loaded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield `items`, computing up to `depth` ahead in a background thread.

    Exceptions raised while producing are re-raised in the consumer, in order.
    Closing the generator stops the producer.

    Example:
        >>> list(prefetch(iter(range(5))))
        [0, 1, 2, 3, 4]
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            _put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            _put(exc)

    def _put(obj: object) -> None:
        while not stop.is_set():
            try:
                slots.put(obj, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="polaretl-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            got = slots.get()
            if got is _END:
                return
            if isinstance(got, BaseException):
                raise got
            yield got  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)

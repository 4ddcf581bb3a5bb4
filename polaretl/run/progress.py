"""Live progress of runs in Redis: one hash per run, one field per slice.

Redis holds only what is live (rows done, current batch, heartbeat); the durable
record stays in PostgreSQL. Keys expire a day after their last update.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from polaretl.run.broker import client

_TTL = 86_400


def key(run_id: int) -> str:
    return f"polaretl:progress:{run_id}"


class RedisProgress:
    """A `run_slice` progress callback that adds each batch's counts to Redis."""

    def __init__(self, url: str, run_id: int, slice: str) -> None:
        self.redis = client(url)
        self.run_id = run_id
        self.slice = slice
        self.totals = {"processed": 0, "loaded": 0, "rejected": 0, "batch": 0}

    def __call__(self, event: dict[str, Any]) -> None:
        for name in ("processed", "loaded", "rejected"):
            self.totals[name] += int(event.get(name, 0))
        self.totals["batch"] = int(event.get("batch", 0))
        payload = json.dumps({**self.totals, "heartbeat": time.time()})
        try:
            pipe = self.redis.pipeline()
            pipe.hset(key(self.run_id), self.slice, payload)
            pipe.expire(key(self.run_id), _TTL)
            pipe.execute()
        except redis.RedisError:
            pass  # progress is best effort: the batch is already committed in PostgreSQL


def read(url: str, run_id: int) -> dict[str, dict[str, Any]]:
    """Live progress of a run: slice -> {processed, loaded, rejected, batch, heartbeat}.

    Empty while Redis is unreachable (a restart): progress is a display, the run goes on.
    """
    try:
        raw = client(url).hgetall(key(run_id))
    except redis.RedisError:
        return {}
    return {k.decode(): json.loads(v) for k, v in raw.items()}  # type: ignore[union-attr]

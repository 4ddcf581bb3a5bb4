"""A real HTTP server on 127.0.0.1 that serves a JSON API the way real ones page and fail.

Endpoints over one list of records (``server.records``), filtered by ``updated_since``
(records with ``updated_at >= updated_since``) when that parameter is sent:

| path | paging | body |
|---|---|---|
| ``/pages?page=N&per_page=M`` | page | ``{"data": [...], "meta": {"page": N, "total_pages": T}}`` |
| ``/offset?offset=O&limit=L`` | offset/limit | ``{"results": [...], "total": T}`` |
| ``/cursor?cursor=C&limit=L`` | cursor | ``{"items": [...], "meta": {"next_cursor": "..."}}`` |
| ``/next?after=K&limit=L`` | next URL | ``{"data": [...], "links": {"next": "/next?..."}}`` |
| ``/link?page=N&per_page=M`` | Link header | ``[...]`` with ``Link: <...>; rel="next"`` |
| ``/raw`` | none | ``server.raw_body`` as is |
| ``/token`` (POST) | | OAuth2 client-credentials token endpoint |

``server.require`` makes the data endpoints answer 401 unless the request carries the
credential (``server.echo_credentials``: the 401's body repeats what was sent);
``server.fault(path, kind, ..., after=N)`` makes the next requests to a path (after N
normal answers) fail (statuses, truncated or reset bodies, a 1 byte/s body, a
repeating cursor). Every request is logged in ``server.log`` (method, path, query,
headers, arrival time).

Run on its own (benchmarks, trying ``connectors/rest_customers.py``):
``python -m tests.extract.restserver --records 1000 --port 8000 --token T``.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


def customers(n: int, start: int = 1, day: datetime | None = None) -> list[dict[str, Any]]:
    """`n` customer records with ids from `start`, one minute apart in ``updated_at``."""
    base = day or datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(start, start + n):
        out.append(
            {
                "customer_id": i,
                "name": f"Customer {i}",
                "email": None if i % 7 == 0 else f"c{i}@example.com",
                "country": ["FR", "DE", "NO", "US"][i % 4],
                "updated_at": (base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "address": {"city": f"City {i % 10}", "zip": f"{10000 + i}"},
                "tags": ["a", i % 3],
            }
        )
    return out


@dataclass
class Fault:
    """What to do instead of answering normally, `times` times (None: forever)."""

    kind: str  # status | truncate | short | reset | slow | repeat_cursor | repeat_next
    times: int | None = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0  # requests to the path answered normally before the fault starts


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)  # when the request arrived


class RestServer:
    """The server; `start()` it (or use it as a context manager) and `stop()` it."""

    def __init__(self, records: list[dict[str, Any]] | None = None, cache: bool = False) -> None:
        self.records = records if records is not None else customers(250)
        self.raw_body = b"[]"
        self.require: tuple[str, ...] | None = None
        self.clients = {"client-1": "cl1ent-s3cret-value"}
        # a 401 repeats the credential it got, as some APIs do ("invalid key 'abc'")
        self.echo_credentials = False
        self.token_ttl = 3600
        self.tokens_issued: list[str] = []
        self.log: list[Logged] = []
        self.faults: dict[str, list[Fault]] = {}
        self.stopping = threading.Event()
        self.cache: dict[str, tuple[int, dict[str, str], bytes]] | None = {} if cache else None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle --

    def start(self, port: int = 0) -> RestServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- test controls --

    def fault(
        self,
        path: str,
        kind: str,
        times: int | None = 1,
        status: int = 500,
        headers: dict[str, str] | None = None,
        after: int = 0,
    ) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(
                Fault(kind, times, status, headers or {}, after)
            )

    def requests(self, path: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if path is None or r.path == path]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path) or []
            if not queue:
                return None
            fault = queue[0]
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
            return fault

    # -- the API --

    def _authorised(self, req: Logged) -> bool:
        need = self.require
        if need is None:
            return True
        kind = need[0]
        if kind == "bearer":
            return req.headers.get("authorization") == f"Bearer {need[1]}"
        if kind == "basic":
            token = base64.b64encode(f"{need[1]}:{need[2]}".encode()).decode()
            return req.headers.get("authorization") == f"Basic {token}"
        if kind == "header":
            return req.headers.get(need[1].lower()) == need[2]
        if kind == "query":
            return req.query.get(need[1]) == need[2]
        if kind == "oauth":
            got = req.headers.get("authorization", "")
            return got.startswith("Bearer ") and got[7:] in self.tokens_issued[-1:]
        raise AssertionError(kind)

    def _selected(self, query: dict[str, str]) -> list[dict[str, Any]]:
        since = query.get("updated_since")
        if since is None:
            return self.records
        return [r for r in self.records if r["updated_at"] >= since]

    def respond(self, req: Logged) -> tuple[int, dict[str, str], bytes, Fault | None]:
        fault = self._take_fault(req.path)
        if fault is not None and fault.kind == "status":
            return fault.status, fault.headers, b'{"error": "injected"}', None
        if req.path == "/token":
            return self._token(req) + (None,)
        if not self._authorised(req):
            if self.echo_credentials:
                got = {k: v for k, v in {**req.query, **req.headers}.items() if k != "host"}
                return 401, {}, json.dumps({"error": "unauthorized", "got": got}).encode(), None
            return 401, {}, b'{"error": "unauthorized"}', None
        key = f"{req.path}?{urlencode(sorted(req.query.items()))}"
        if self.cache is not None and key in self.cache and fault is None:
            return self.cache[key] + (None,)
        status, headers, body = self._data(req, fault)
        if self.cache is not None and fault is None:
            self.cache[key] = (status, headers, body)
        return status, headers, body, fault

    def _token(self, req: Logged) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("grant_type") != "client_credentials" or self.clients.get(cid) != secret:
            return 401, {}, b'{"error": "invalid_client", "error_description": "bad secret"}'
        token = f"access-{len(self.tokens_issued) + 1}-tok3n"
        self.tokens_issued.append(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl}
        return 200, {}, json.dumps(body).encode()

    def _data(self, req: Logged, fault: Fault | None) -> tuple[int, dict[str, str], bytes]:
        q = req.query
        rows = self._selected(q)
        headers: dict[str, str] = {}
        if req.path == "/pages":
            page, size = int(q.get("page", "1")), int(q.get("per_page", "100"))
            total = -(-len(rows) // size)
            body: Any = {
                "data": rows[(page - 1) * size : page * size],
                "meta": {"page": page, "total_pages": total},
            }
        elif req.path == "/offset":
            offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
            body = {"results": rows[offset : offset + limit], "total": len(rows)}
        elif req.path == "/cursor":
            start = int(q["cursor"][1:]) if "cursor" in q else 0
            limit = int(q.get("limit", "100"))
            end = start + limit
            nxt = f"c{end}" if end < len(rows) else None
            if fault is not None and fault.kind == "repeat_cursor":
                nxt = q.get("cursor", f"c{end}")
            body = {"items": rows[start:end], "meta": {"next_cursor": nxt}}
        elif req.path == "/next":
            after, limit = int(q.get("after", "0")), int(q.get("limit", "100"))
            end = after + limit
            extra = {k: v for k, v in q.items() if k not in ("after",)}
            nxt = f"/next?{urlencode({**extra, 'after': end})}" if end < len(rows) else None
            if fault is not None and fault.kind == "repeat_next":
                nxt = f"/next?{urlencode({**extra, 'after': after})}"
            body = {"data": rows[after:end], "links": {"next": nxt}}
        elif req.path == "/link":
            page, size = int(q.get("page", "1")), int(q.get("per_page", "100"))
            body = rows[(page - 1) * size : page * size]
            if page * size < len(rows):
                nxt = self.url(f"/link?{urlencode({**q, 'page': page + 1})}")
                headers["Link"] = f'<{nxt}>; rel="next", <{self.url("/link")}>; rel="first"'
        elif req.path == "/raw":
            return 200, headers, self.raw_body
        else:
            return 404, headers, b'{"error": "no such endpoint"}'
        return 200, headers, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: RestServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length))

    def _handle(self, payload: bytes) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        req = Logged(
            self.command,
            parts.path,
            query,
            {k.lower(): v for k, v in self.headers.items()},
            payload,
        )
        with state._lock:
            state.log.append(req)
        status, headers, body, fault = state.respond(req)
        kind = fault.kind if fault is not None else None
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        if kind == "truncate":  # no length, body cut, close: the client sees bad JSON
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "short":  # announces the full length, sends half, closes
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif kind == "reset":  # half the body, then a TCP reset
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif kind == "slow":  # 1 byte per second, until the client gives up
            self._drip(body, state.stopping.wait)
        else:
            self.wfile.write(body)

    def _drip(self, body: bytes, wait: Callable[[float], bool]) -> None:
        for i in range(len(body)):
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except OSError:
                break
            if wait(1.0):
                break
        self.close_connection = True


def main() -> None:
    """Serve `--records` customers until interrupted; prints the base URL."""
    parser = argparse.ArgumentParser(description="Serve a test JSON API on 127.0.0.1.")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    args = parser.parse_args()
    server = RestServer(customers(args.records), cache=True)
    if args.token:
        server.require = ("bearer", args.token)
    with server.start(args.port):
        print(server.url(""), flush=True)
        while not server.stopping.wait(3600):
            pass


if __name__ == "__main__":
    main()


__all__ = ["Fault", "Logged", "RestServer", "customers", "main"]

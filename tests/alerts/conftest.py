"""Real receivers for alert channels (an HTTP server, an SMTP server) and run records."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller

from polaretl.record.schema import ensure_schema


@dataclass
class Receiver:
    """What a local webhook server got, and what it answers (set `status` to fail)."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    reply: str = "ok"


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        self.receiver.posts.append(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": json.loads(body) if body else None,
            }
        )
        payload = self.receiver.reply.encode()
        self.send_response(self.receiver.status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 (a thread) collecting POSTs."""
    receiver = Receiver(url="")
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Mailbox:
    """What a local SMTP server got; recipients in `refuse` get 550."""

    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """An SMTP server (aiosmtpd) on 127.0.0.1 collecting mail."""
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def records_url(pg_dsn: str) -> Iterator[str]:
    """One database with the polaretl schema for a module's rule tests (creating a
    database per test costs about a second; `conn` empties the records instead)."""
    name = f"polaretl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_dsn, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as c:
            ensure_schema(c)
        yield url
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(records_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to a database whose polaretl records are empty."""
    with psycopg.connect(records_url, autocommit=True) as c:
        c.execute(
            "TRUNCATE polaretl.runs, polaretl.alerts, polaretl.schema_versions, "
            "polaretl.quarantine, polaretl.checkpoints RESTART IDENTITY CASCADE"
        )
        yield c


def add_run(
    conn: psycopg.Connection[tuple[object, ...]],
    pipeline: str = "orders",
    *,
    status: str = "succeeded",
    processed: int = 100,
    rejected: int = 0,
    seconds: float | None = 1.0,
    error: str | None = None,
) -> int:
    """Record a finished run directly in polaretl.runs; return its id."""
    timings = {"total": seconds} if seconds is not None else {}
    row = conn.execute(
        "INSERT INTO polaretl.runs (pipeline, status, finished_at, processed, valid, rejected, "
        "loaded, timings, error) VALUES (%s, %s, now(), %s, %s, %s, %s, %s, %s) "
        "RETURNING run_id",
        (
            pipeline,
            status,
            processed,
            processed - rejected,
            rejected,
            processed - rejected,
            json.dumps(timings),
            error,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def alert_rows(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT rule, pipeline, run_id, message, channels FROM polaretl.alerts ORDER BY id"
    ).fetchall()

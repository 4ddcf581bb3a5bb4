"""`polaretl app` is a process a service manager stops with SIGTERM: Streamlit goes too."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import free_port
from tests.helpers import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_sigterm_to_the_cli_stops_streamlit(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    (tmp_path / "connectors").mkdir()  # an (empty) workspace
    proc = subprocess.Popen(
        [sys.executable, "-m", "polaretl.cli", "app", "--port", str(port)]
        + ["--project", str(tmp_path), "--database-url", database_url],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    streamlit: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the app never answered")
        streamlit = _children(proc.pid)
        assert streamlit, "the app runs as a child process"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) is not None
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in streamlit) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in streamlit), "Streamlit outlived `polaretl app`"
    finally:
        for pid in [proc.pid, *streamlit]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def _handshake(port: int, host: str) -> str:
    """The status line a websocket upgrade to the app's stream gets with `host` in its
    Host (and Origin) header, as a browser sends it from a page of that host."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        key = base64.b64encode(os.urandom(16)).decode()
        conn.sendall(
            (
                f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        return conn.recv(4096).split(b"\r\n", 1)[0].decode()


def test_a_loopback_app_refuses_a_rebound_host_name(tmp_path: Path, database_url: str) -> None:
    from polaretl import app

    port = free_port()
    (tmp_path / "connectors").mkdir()  # an (empty) workspace, no password
    proc = app.start(
        tmp_path, database_url, port=port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the app never answered")
        for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert _handshake(port, name) == "HTTP/1.1 101 Switching Protocols", name
        # DNS rebinding: evil.example now resolves to 127.0.0.1, and its page connects
        for name in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
            assert _handshake(port, name) == "HTTP/1.1 403 Forbidden", name
    finally:
        proc.terminate()
        proc.wait(timeout=20)

"""Headless Chromium driven over the DevTools protocol: open a page, wait for text,
read the DOM, take a screenshot.

Why not ``chromium --dump-dom --virtual-time-budget=...``: a Streamlit page draws what
its server sends over a websocket, and virtual time does not wait for websocket
messages, so the dump is taken while the page still shows its loading skeleton. Here
we wait, in real time and with a deadline, until the text we expect is on the page.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Browser:
    """One headless Chromium with one tab; use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="polaretl-chromium-"))
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()
        try:
            port = self._devtools_port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                targets = json.load(r)
            page = next(t for t in targets if t["type"] == "page")
            # entered as a context (websockets >= 17.1 wants that), closed in close()
            self.ws = self._stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None)
            )
            self.call("Page.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not marker.exists() or not marker.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        return int(marker.read_text().split()[0])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events are skipped)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """The page's visible text."""
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def dom(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML") or "")

    def wait_for(self, *texts: str, timeout: float = 45.0) -> str:
        """Wait until every one of `texts` is on the page; return the page's text."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.text()
            if all(t in seen for t in texts):
                return seen
            if time.monotonic() > deadline:
                missing = [t for t in texts if t not in seen]
                raise AssertionError(f"not on the page after {timeout} s: {missing}\n{seen}")
            time.sleep(0.25)

    def screenshot(self, path: str | Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        self._stack.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

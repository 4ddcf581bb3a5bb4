"""A real S3-compatible server for tests: moto's server mode in a child process, with
signature checking on (wrong credentials are refused as S3 refuses them), and a small
HTTP proxy in front of it that throttles (503 SlowDown) or cuts bodies on demand.

`MotoS3.start()` runs ``python -m moto.server`` on a free port, creates an IAM user
with an access key (moto checks signatures once ``INITIAL_NO_AUTH_ACTION_COUNT``
requests are spent), and `MotoS3.stop()` ends the process by its PID.

Run on its own (the multi-host test, trying a connector by hand):
``python -m tests.s3server --host 127.0.0.1 --port 9000`` prints the credentials as
``export`` lines and serves until killed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Requests moto serves before it checks signatures: the IAM set-up below.
_SETUP_REQUESTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoS3:
    """One moto server process; `env()` is what a client needs to reach it."""

    host: str = "127.0.0.1"
    port: int = 0
    region: str = "us-east-1"
    key: str = ""
    secret: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, wait: float = 30.0, netns: str | None = None) -> MotoS3:
        self.port = self.port or free_port(self.host)
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_SETUP_REQUESTS))
        cmd = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + wait
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start on {self.endpoint}") from None
                time.sleep(0.1)
        self._make_user()
        return self

    def _make_user(self) -> None:
        import boto3  # moto's dependency, so present wherever moto is

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name=self.region,
        )
        iam.create_user(UserName="polaretl")
        allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [allow]}
        iam.put_user_policy(
            UserName="polaretl", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        access = iam.create_access_key(UserName="polaretl")["AccessKey"]
        self.key, self.secret = access["AccessKeyId"], access["SecretAccessKey"]

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The standard variables a client reads (the endpoint may be a proxy's)."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Bucket:
    """A bucket of its own for one test: `put`, `delete`, `url`."""

    server: MotoS3
    name: str
    client: Any

    @classmethod
    def create(cls, server: MotoS3) -> Bucket:
        client = server.client()
        name = f"t-{os.urandom(6).hex()}"
        client.create_bucket(Bucket=name)
        return cls(server, name, client)

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def put(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)
        return self.url(key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


@dataclass
class Faults:
    """What the proxy does to the next requests."""

    slowdown: int = 0  # answer this many requests 503 SlowDown
    cut: int = 0  # send half of this many object bodies, then drop the connection
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> bool:
        with self.lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False


class FaultProxy:
    """An HTTP proxy to moto on 127.0.0.1 that injects `Faults` (a context manager).

    The Host header is passed on unchanged, so SigV4 signatures made for the proxy's
    address still verify at moto.
    """

    def __init__(self, upstream: MotoS3) -> None:
        self.faults = Faults()
        faults, target = self.faults, (upstream.host, upstream.port)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                faults.log.append((self.command, self.path, self.headers.get("Range")))
                if faults.take("slowdown"):
                    reply = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                        b"<Message>Please reduce your request rate.</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                conn = http.client.HTTPConnection(*target, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                cut = self.command == "GET" and len(data) > 1 and "?" not in self.path
                cut = cut and resp.status in (200, 206) and faults.take("cut")
                self.send_response(resp.status)
                head = self.command == "HEAD"  # keeps the object's Content-Length
                skip = ("transfer-encoding", "connection") + (() if head else ("content-length",))
                for name, value in resp.getheaders():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut:  # half the body, then the connection goes away
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    server = MotoS3(host=args.host, port=args.port).start()
    for name, value in server.env().items():
        print(f"export {name}={value}", flush=True)
    try:
        assert server.proc is not None
        server.proc.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

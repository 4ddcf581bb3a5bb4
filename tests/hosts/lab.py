"""Hosts that share nothing but a network, made of Linux network namespaces.

`Lab` makes a bridge and one namespace per host, each joined to the bridge by a veth
pair with an address of its own in a /24 that no route on the machine uses. The root
namespace gets the bridge's ``.1`` so the test can set up data and read results; the
hosts reach each other only over the bridge (a namespace has nothing but ``lo`` and
its veth).

Services run inside their namespaces, as processes of their own (not the machine's):
`Lab.postgres` (``initdb`` + ``postgres`` as the ``postgres`` user, data in a temporary
folder), `Lab.redis`, `Lab.s3` (moto). `Lab.host_workspace` gives a worker host its own
copy of a workspace's ``connectors/`` and ``contracts/`` in a folder of its own (the
data stays in S3), and `Lab.polaretl` runs ``polaretl`` in a host with an environment
that names the services by their namespace addresses only.

Everything started is ended by PID (`Lab.kill_host` sends SIGKILL to every process of
one namespace, as a machine losing power would), and `Lab.close` deletes the
namespaces and the bridge. `unavailable` says why a lab cannot be made here (not
root, no ``ip``, no PostgreSQL 15 or ``redis-server``), for tests to skip.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.s3server import MotoS3

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT, REDIS_PORT, S3_PORT = 5432, 6379, 9000


def unavailable() -> str | None:
    """Why namespaces with services cannot be made here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 server binaries are not in {PG_BIN}"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no `postgres` user to run PostgreSQL as"
    probe = f"pe{os.urandom(3).hex()}probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _sh(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no route on this machine covers or overlaps."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    used = [
        ipaddress.ip_network(word, strict=False)
        for line in routes.splitlines()
        for word in line.split()[:1]
        if "/" in word
    ]
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(200, 250)}.{random.randint(1, 254)}.0/24")
        if not any(net.overlaps(other) for other in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 for the lab")


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start on {host}:{port}") from None
            time.sleep(0.2)


class Lab:
    """Namespaces joined by a bridge; see the module docstring."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.tag = os.urandom(2).hex()
        self.folder = Path(tempfile.mkdtemp(prefix=f"polaretl-hosts-{self.tag}-"))
        self.folder.chmod(0o755)  # the postgres user reads its data folder below
        self.net = _free_subnet()
        self.bridge = f"pebr{self.tag}"
        self.hosts = list(hosts)
        self.address: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.s3_server: MotoS3 | None = None
        self.env: dict[str, str] = {}  # what every polaretl process gets
        self.workspaces: dict[str, Path] = {}  # host -> its own copy of the workspace
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ns(self, host: str) -> str:
        return f"pe{self.tag}-{host}"

    def _build(self) -> None:
        gateway = f"{self.net.network_address + 1}/{self.net.prefixlen}"
        _sh("ip", "link", "add", "name", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", gateway, "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        for i, host in enumerate(self.hosts):
            ns, outside, inside = self.ns(host), f"pe{self.tag}{i}a", f"pe{self.tag}{i}b"
            ip = str(self.net.network_address + 10 + i)
            _sh("ip", "netns", "add", ns)
            _sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _sh("ip", "link", "set", outside, "master", self.bridge)
            _sh("ip", "link", "set", outside, "up")
            _sh("ip", "link", "set", inside, "netns", ns)
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/{self.net.prefixlen}", "dev", inside)
            _sh("ip", "-n", ns, "link", "set", inside, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.address[host] = ip

    def start(
        self, host: str, cmd: Sequence[str], *, env: dict[str, str] | None = None, log: str = ""
    ) -> subprocess.Popen[bytes]:
        """Run `cmd` inside `host`'s namespace (its output to ``<folder>/<log>.log``)."""
        path = self.folder / f"{log or host}.log"
        with open(path, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(host), *cmd],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def postgres(self, host: str) -> str:
        """A PostgreSQL 15 of its own in `host`; returns its URL."""
        data = self.folder / "pgdata"
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        _sh(
            "runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data),
            "-A", "trust", "-U", "postgres", "--no-sync",
        )  # fmt: skip
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.net} trust\n")
        ip = self.address[host]
        proc = self.start(
            host,
            [
                "runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(data),
                "-h", ip, "-p", str(PG_PORT), "-k", str(data),
                "-c", "max_connections=200",
            ],
            log="postgres",
        )  # fmt: skip
        _wait_port(ip, PG_PORT, proc, "PostgreSQL")
        return f"postgresql://postgres@{ip}:{PG_PORT}/postgres"

    def redis(self, host: str) -> str:
        """A redis-server of its own in `host`; returns its URL."""
        ip = self.address[host]
        proc = self.start(
            host,
            [
                "redis-server", "--port", str(REDIS_PORT), "--bind", ip, "--save", "",
                "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.folder),
            ],
            log="redis",
        )  # fmt: skip
        _wait_port(ip, REDIS_PORT, proc, "Redis")
        return f"redis://{ip}:{REDIS_PORT}/0"

    def s3(self, host: str) -> MotoS3:
        """A moto S3 server of its own in `host` (credentials made, signatures checked)."""
        self.s3_server = MotoS3(host=self.address[host], port=S3_PORT)
        self.s3_server.start(netns=self.ns(host))
        assert self.s3_server.proc is not None
        self.procs.append(self.s3_server.proc)
        return self.s3_server

    def host_workspace(self, host: str, template: Path) -> Path:
        """`host`'s own copy of the workspace code (connectors/, contracts/): no shared disk."""
        target = self.folder / f"host-{host}" / "ws"
        for part in ("connectors", "contracts"):
            shutil.copytree(
                template / part, target / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        self.workspaces[host] = target
        return target

    def polaretl(
        self, host: str, *args: str, extra_env: dict[str, str] | None = None, log: str = ""
    ) -> subprocess.Popen[bytes]:
        """``polaretl ARGS`` in `host`, run from its own folder with `env` (+ `extra_env`)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("POLARETL_", "AWS_", "PG", "REDIS"))
        }
        env.update(self.env)
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "polaretl.cli", *args]
        return self.start(host, cmd, env=env, log=log or host)

    def pids(self, host: str) -> list[int]:
        out = subprocess.run(
            ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def kill_host(self, host: str, wait: float = 30) -> list[int]:
        """SIGKILL every process in `host`'s namespace, and wait until none is left (the
        ones started here are reaped here; their orphans by init); returns the PIDs."""
        pids = self.pids(host)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            if proc.pid in pids:
                proc.wait()
        deadline = time.monotonic() + wait
        while self.pids(host) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pids

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """End every process of every namespace, delete the namespaces and the bridge."""
        for host in self.address:
            self.kill_host(host)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for host in self.address:
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        if os.environ.get("POLARETL_KEEP_LAB"):
            return
        shutil.rmtree(self.folder, ignore_errors=True)

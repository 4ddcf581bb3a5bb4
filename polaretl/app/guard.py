"""What stands between the network and the ops app's pages.

- **Sign-in backoff.** Failed sign-ins are counted per client (its address; every
  client on this machine counts as one, as Streamlit gives no address for loopback). A
  few typos are free; after that each failure makes the client wait twice as long
  before the next password is even compared (1 s, 2 s, 4 s ... up to a minute), and a
  password sent sooner is refused unchecked. Each failed or refused sign-in is logged
  (``polaretl.app``: client, time, failures in a row; never the password). A right
  password clears the client's count.
- **Loopback host names.** An app bound to a loopback address is for this machine:
  ``polaretl app`` has Streamlit accept websocket connections only with a loopback
  ``Host`` (``server.allowedHosts``), so a page of another site whose name was rebound
  to 127.0.0.1 (DNS rebinding) cannot read it; `host_allowed` checks the same on each
  page run, for an app started some other way.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from polaretl.net import is_loopback

log = logging.getLogger("polaretl.app")

#: Host names a loopback-bound app answers to.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass
class _Client:
    failures: int = 0
    until: float = 0.0  # monotonic time before which a sign-in is refused unchecked


class SignInGuard:
    """Failed sign-ins per client, and how long each must wait before the next.

    Args:
        free: failures in a row before any wait (typos).
        base: seconds of the first wait; each further failure doubles it.
        cap: the longest wait, in seconds.
        clock: a monotonic clock (tests pass their own).

    Example:
        >>> now = [0.0]
        >>> guard = SignInGuard(free=1, base=2, cap=5, clock=lambda: now[0])
        >>> guard.failed("a"), guard.failed("a"), guard.wait("a"), guard.failed("a")
        (0.0, 2.0, 2.0, 4.0)
        >>> now[0] = 10.0
        >>> guard.failed("a"), guard.wait("b")
        (5.0, 0.0)
        >>> guard.succeeded("a"); guard.wait("a")
        0.0
    """

    def __init__(
        self,
        *,
        free: int = 3,
        base: float = 1.0,
        cap: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base, self.cap, self.clock = free, base, cap, clock
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must still wait before a password is compared (0: none)."""
        with self._lock:
            state = self._clients.get(client)
            return max(0.0, state.until - self.clock()) if state else 0.0

    def failed(self, client: str) -> float:
        """Count a wrong password; return the seconds the client now waits."""
        with self._lock:
            state = self._clients.setdefault(client, _Client())
            state.failures += 1
            over = state.failures - self.free
            delay = 0.0 if over <= 0 else min(float(self.cap), self.base * 2.0 ** (over - 1))
            state.until = self.clock() + delay
            return delay

    def failures(self, client: str) -> int:
        """Wrong passwords in a row from `client`."""
        with self._lock:
            state = self._clients.get(client)
            return state.failures if state else 0

    def succeeded(self, client: str) -> None:
        """A right password: the client starts afresh."""
        with self._lock:
            self._clients.pop(client, None)

    def reset(self) -> None:
        """Forget every client (tests)."""
        with self._lock:
            self._clients.clear()


#: The app's one guard (Streamlit keeps imported modules across reruns and sessions).
GUARD = SignInGuard()


def log_failure(client: str, failures: int, wait: float, *, refused: bool = False) -> None:
    """Log a failed (or, during the wait, refused) sign-in: who, when, how many."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if refused:
        log.warning(
            "ops app: sign-in from %s at %s refused unchecked (%d failed in a row; "
            "next attempt allowed in %.0f s)",
            client,
            when,
            failures,
            wait,
        )
    else:
        log.warning(
            "ops app: failed sign-in from %s at %s (%d in a row; next attempt allowed in %.0f s)",
            client,
            when,
            failures,
            wait,
        )


def allowed_hosts(address: str) -> list[str]:
    """The ``server.allowedHosts`` for an app bound to `address`: loopback names only
    when it is a loopback address, else none (Streamlit then accepts any Host).

    Example:
        >>> allowed_hosts("127.0.0.1"), allowed_hosts("0.0.0.0")
        (['localhost', '127.0.0.1', '::1'], [])
        >>> allowed_hosts("127.0.0.2")
        ['localhost', '127.0.0.1', '::1', '127.0.0.2']
    """
    if not is_loopback(address):
        return []
    return list(dict.fromkeys([*LOOPBACK_HOSTS, address.strip("[]")]))


def host_allowed(address: str | None, host: str | None) -> bool:
    """Whether a request with the ``Host`` header `host` may see an app bound to
    `address`: any host when the app is not bound to loopback (or the run has no
    request, as under Streamlit's AppTest); else a loopback name.

    Example:
        >>> host_allowed("127.0.0.1", "127.0.0.1:8501"), host_allowed("127.0.0.1", "[::1]:80")
        (True, True)
        >>> host_allowed("127.0.0.1", "evil.example:8501"), host_allowed("0.0.0.0", "evil.example")
        (False, True)
    """
    if not address or not is_loopback(address) or host is None:
        return True
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    return name is not None and name.rstrip(".") in allowed_hosts(address)

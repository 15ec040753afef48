"""One origin's share of the connection pool: its idle connections, how many exist, who waits.

Taking a connection, giving it back and handing it to the next waiter are O(1) (DESIGN.md §10):
idle connections are a stack (the most recently used is taken first), waiters a FIFO.
"""

from __future__ import annotations

from collections import deque

import anyio
import httpx

from regimage.http.connection import Connection

__all__ = ["DEFAULT_PORTS", "Origin", "OriginKey", "Waiter", "origin_key"]

DEFAULT_PORTS = {b"http": 80, b"https": 443}

#: Pools are keyed by (scheme, host, port), as httpx's URL gives them.
OriginKey = tuple[bytes, bytes, int]


def origin_key(url: httpx.URL) -> OriginKey:
    """``url``'s (scheme, host, port), the port filled in from the scheme."""
    scheme = url.raw_scheme
    return scheme, url.raw_host, url.port or DEFAULT_PORTS.get(scheme, 0)


class Waiter:
    """A request waiting for a connection: handed one (or leave to open one) by a release."""

    __slots__ = ("cancelled", "connection", "event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        self.cancelled = False
        self.connection: Connection | None = None


class Origin:
    """The connections of one origin: idle ones (a stack), how many exist, who waits."""

    __slots__ = ("count", "host", "idle", "label", "limit", "port", "tls", "waiters")

    def __init__(self, key: OriginKey, limit: int) -> None:
        scheme, host, port = key
        self.host = host.decode("ascii")
        self.port = port
        self.tls = scheme == b"https"
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.label = f"{scheme.decode('ascii')}://{shown}:{port}"
        self.limit = limit
        self.idle: list[Connection] = []
        self.count = 0  # open or being opened, idle or busy
        self.waiters: deque[Waiter] = deque()

    def next_waiter(self) -> Waiter | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.cancelled:
                return waiter
        return None

    def take_idle(self) -> tuple[Connection | None, list[Connection]]:
        """The most recently used idle connection still usable, and the dead ones found (no
        longer counted: the caller closes them)."""
        dead: list[Connection] = []
        while self.idle:
            connection = self.idle.pop()
            if connection.usable():
                return connection, dead
            dead.append(connection)
            self.count -= 1
        return None, dead

    def give(self, connection: Connection | None) -> None:
        """Pass a usable connection (or, with None, the right to open one) to the next waiter;
        with nobody waiting, keep the connection idle (or give the slot up)."""
        waiter = self.next_waiter()
        if waiter is not None:
            waiter.granted = True
            waiter.connection = connection
            waiter.event.set()
            return
        if connection is None:
            self.count -= 1
        else:
            self.idle.append(connection)

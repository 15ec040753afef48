"""A delaying TCP proxy for the benchmark: loopback only, bounded, optionally terminating TLS.

Every byte that passes is held for a one-way delay in each direction (so a request and its answer
cost one round trip, ``2 × delay``), and a new connection pays the TCP handshake too: its first
bytes reach the upstream only after ``3 × delay`` (handshake round trip, then the one-way trip of
the request), as on a real network. With ``tls``, the proxy is the TLS server (the lab's
certificate for 127.0.0.1) and the delay applies to the encrypted bytes, handshake included, so
TLS costs its round trip as well; the upstream is plain HTTP.

Run as its own process, so that its CPU is never counted as the client's::

    python -m tests.lab.delay_proxy --delay-ms 25 --ready FILE \\
        --route registry=127.0.0.1:5000:tls --route anonymous=127.0.0.1:5001 \\
        [--cert server.crt --key server.key]

Each route listens on a free port of 127.0.0.1; FILE receives ``{"routes": {name: port},
"control": port}``. The control port answers one line: ``stats`` (JSON: connections and requests
per route; a request is counted at the end of each request head the client sends) or ``reset``.
The proxy never connects anywhere but its 127.0.0.1 upstreams, and holds at most
:data:`MAX_CONNECTIONS` connections and :data:`MAX_BUFFERED` chunks per direction.
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

__all__ = ["MAX_CONNECTIONS", "Route", "main"]

#: Connections held at once over all routes (more wait in the listen backlog).
MAX_CONNECTIONS = 2048
#: Chunks in flight per direction of a connection (each at most 64 KiB).
MAX_BUFFERED = 64
_CHUNK = 65536
_HEAD_END = b"\r\n\r\n"


@dataclass
class Route:
    """One listener: where it forwards, whether it terminates TLS, what passed through it."""

    name: str
    upstream_port: int
    tls: bool = False
    port: int = 0
    connections: int = 0
    requests: int = 0
    open: int = 0
    peak_open: int = 0

    def stats(self) -> dict[str, int]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "peak_open": self.peak_open,
        }


class DelayedStream(anyio.abc.ByteStream):
    """A socket stream whose bytes are held ``delay`` seconds in each direction; the first bytes
    received also wait for the connection's handshake round trip."""

    def __init__(self, inner: anyio.abc.ByteStream, delay: float, group: anyio.abc.TaskGroup):
        self._inner = inner
        self._delay = delay
        self._opened = time.monotonic()
        self._in_send, self._in_receive = anyio.create_memory_object_stream[tuple[float, bytes]](
            MAX_BUFFERED
        )
        self._out_send, self._out_receive = anyio.create_memory_object_stream[tuple[float, bytes]](
            MAX_BUFFERED
        )
        self._first = True
        group.start_soon(self._reader)
        group.start_soon(self._writer)

    async def _reader(self) -> None:
        async with self._in_send:
            while True:
                try:
                    data = await self._inner.receive(_CHUNK)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
                due = time.monotonic() + self._delay
                if self._first:  # the handshake round trip, then the request's one-way trip
                    due = max(due, self._opened + 3 * self._delay)
                    self._first = False
                await self._in_send.send((due, data))

    async def _writer(self) -> None:
        async with self._out_receive:
            async for due, data in self._out_receive:
                wait = due - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                if not data:
                    await self._inner.aclose()
                    return
                try:
                    await self._inner.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return

    async def receive(self, max_bytes: int = _CHUNK) -> bytes:
        try:
            due, data = await self._in_receive.receive()
        except anyio.EndOfStream:
            raise anyio.EndOfStream from None
        wait = due - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        return data

    async def send(self, item: bytes) -> None:
        await self._out_send.send((time.monotonic() + self._delay, item))

    async def send_eof(self) -> None:
        await self._out_send.send((time.monotonic() + self._delay, b""))

    async def aclose(self) -> None:
        await self._out_send.aclose()
        await self._in_receive.aclose()


class Proxy:
    """The routes, the delay, the TLS context, and the limit on connections."""

    def __init__(self, routes: Sequence[Route], delay: float, context: ssl.SSLContext | None):
        self.routes = list(routes)
        self.delay = delay
        self.context = context
        self.limit = anyio.CapacityLimiter(MAX_CONNECTIONS)

    async def serve_route(
        self, route: Route, listener: anyio.abc.Listener[anyio.abc.SocketStream]
    ) -> None:
        async def handle(client: anyio.abc.SocketStream) -> None:
            async with self.limit, client:
                route.connections += 1
                route.open += 1
                route.peak_open = max(route.peak_open, route.open)
                try:
                    await self._relay(route, client)
                finally:
                    route.open -= 1

        await listener.serve(handle)

    async def _relay(self, route: Route, client: anyio.abc.SocketStream) -> None:
        try:
            upstream = await anyio.connect_tcp("127.0.0.1", route.upstream_port)
        except OSError:
            return
        async with upstream, anyio.create_task_group() as group:
            near: anyio.abc.ByteStream = client
            if self.delay > 0:
                near = DelayedStream(client, self.delay, group)
            if route.tls:
                assert self.context is not None
                try:
                    near = await TLSStream.wrap(
                        near, server_side=True, ssl_context=self.context, standard_compatible=False
                    )
                except (ssl.SSLError, OSError, anyio.EndOfStream, anyio.BrokenResourceError):
                    group.cancel_scope.cancel()
                    return
            tail = b""

            async def inbound() -> None:
                nonlocal tail
                try:
                    while True:
                        data = await near.receive(_CHUNK)
                        seen = tail + data
                        route.requests += seen.count(_HEAD_END)
                        tail = seen[-3:]
                        await upstream.send(data)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                except ssl.SSLError:
                    pass
                group.cancel_scope.cancel()

            async def outbound() -> None:
                try:
                    while True:
                        data = await upstream.receive(_CHUNK)
                        await near.send(data)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                except ssl.SSLError:
                    pass
                # Let the delayed bytes drain before closing the client's side.
                if self.delay > 0:
                    await anyio.sleep(self.delay * 2)
                group.cancel_scope.cancel()

            group.start_soon(inbound)
            group.start_soon(outbound)

    async def control(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    line = (await stream.receive(1024)).strip()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                if line == b"reset":
                    for route in self.routes:
                        route.connections = route.requests = route.peak_open = 0
                    await stream.send(b"{}\n")
                else:
                    answer = {route.name: route.stats() for route in self.routes}
                    await stream.send(json.dumps(answer).encode() + b"\n")

        await listener.serve(handle)


def _parse_route(text: str) -> Route:
    name, _, rest = text.partition("=")
    parts = rest.split(":")
    if not name or len(parts) not in (2, 3) or parts[0] != "127.0.0.1" or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(
            f"a route is NAME=127.0.0.1:PORT[:tls] (loopback only): {text!r}"
        )
    if len(parts) == 3 and parts[2] != "tls":
        raise argparse.ArgumentTypeError(f"unknown route option {parts[2]!r} in {text!r}")
    return Route(name, int(parts[1]), tls=len(parts) == 3)


async def _run(proxy: Proxy, ready: Path) -> None:
    listeners = []
    for route in proxy.routes:
        listener = await anyio.create_tcp_listener(
            local_host="127.0.0.1", local_port=0, backlog=1024
        )
        route.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        listeners.append((route, listener))
    control = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    control_port = control.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    async with anyio.create_task_group() as group:
        for route, listener in listeners:
            group.start_soon(proxy.serve_route, route, listener)
        group.start_soon(proxy.control, control)
        temporary = ready.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"routes": {r.name: r.port for r in proxy.routes}, "control": control_port})
        )
        temporary.replace(ready)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                group.cancel_scope.cancel()
                break


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.delay_proxy", description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (ms)")
    parser.add_argument("--route", type=_parse_route, action="append", required=True)
    parser.add_argument("--cert", type=Path, help="TLS certificate (PEM) for tls routes")
    parser.add_argument("--key", type=Path, help="its key")
    parser.add_argument("--ready", type=Path, required=True, help="where to write the ports")
    args = parser.parse_args(argv)
    context = None
    if any(route.tls for route in args.route):
        if args.cert is None or args.key is None:
            parser.error("tls routes need --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    proxy = Proxy(args.route, args.delay_ms / 1000.0, context)
    anyio.run(_run, proxy, args.ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

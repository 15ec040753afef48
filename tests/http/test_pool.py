"""The connection pool: bounded per origin, keep-alive reuse, O(1) hand-over, httpx semantics.

A tiny keep-alive HTTP/1.1 server of the test's own (anyio, loopback) answers every request with
``ok`` after an optional pause, and counts the connections it accepted and the most it served at
once: what the pool promises is checked from the server's side, not only from its own counters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

from regimage.http.pool import ConnectionPool, PoolTransport
from regimage.http.request_log import RequestStats
from regimage.http.transport import build_transport
from regimage.registry.client import RegistryProvider
from tests.imports import imported_by

pytestmark = pytest.mark.anyio

TLS = httpx.create_ssl_context


class Server:
    """Counts connections; answers ``GET /…`` with 200 ``ok`` (``/slow`` waits for ``release``)."""

    def __init__(self) -> None:
        self.port = 0
        self.accepted = 0
        self.open = 0
        self.peak_open = 0
        self.requests = 0
        self.release = anyio.Event()
        self.close_after_one = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = await stream.receive()
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                self.requests += 1
                if path == b"/slow":
                    await self.release.wait()
                closing = self.close_after_one
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                    + (b"Connection: close\r\n" if closing else b"")
                    + b"\r\nok"
                )
                if closing:
                    return
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.open -= 1
            await stream.aclose()


@asynccontextmanager
async def serving() -> AsyncIterator[Server]:
    server = Server()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    server.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, server.handle)
            try:
                yield server
            finally:
                server.release.set()
                group.cancel_scope.cancel()
    finally:
        await listener.aclose()


async def test_many_queued_requests_share_a_bounded_number_of_connections() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS, max_per_origin=8)
        async with httpx.AsyncClient(transport=transport) as client:
            statuses: list[int] = []

            async def get(i: int) -> None:
                statuses.append((await client.get(f"{server.url}/item/{i}")).status_code)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    for i in range(500):
                        group.start_soon(get, i)
            assert statuses == [200] * 500
            stats = transport.pool.stats
            assert stats.peak <= 8
            assert stats.opened <= 8
            assert stats.opened + stats.reused == 500
            assert stats.waited > 0  # the others queued in the pool and were handed connections
            assert transport.pool.connections(server.url) <= 8
    assert server.requests == 500
    assert server.accepted <= 8
    assert server.peak_open <= 8


async def test_sequential_requests_reuse_one_connection() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(5):
                assert (await client.get(f"{server.url}/")).text == "ok"
            assert repr(transport.pool) == "<ConnectionPool(busy=0, idle=1)>"
            async with client.stream("GET", f"{server.url}/") as response:
                assert repr(transport.pool) == "<ConnectionPool(busy=1, idle=0)>"
                assert await response.aread() == b"ok"
            assert repr(transport.pool) == "<ConnectionPool(busy=0, idle=1)>"
        assert transport.pool.stats.opened == 1
        assert transport.pool.stats.reused == 5
    assert server.accepted == 1


async def test_a_closed_connection_is_not_reused() -> None:
    async with serving() as server:
        server.close_after_one = True
        transport = PoolTransport(TLS)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                assert (await client.get(f"{server.url}/")).text == "ok"
            assert transport.pool.connections() == 0
        assert transport.pool.stats.opened == 3
    assert server.accepted == 3


async def test_expired_connections_are_dropped() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS, keepalive_expiry=0.0)
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(f"{server.url}/")).status_code == 200
            await anyio.sleep(0.01)
            assert (await client.get(f"{server.url}/")).status_code == 200
        assert transport.pool.stats.opened == 2
        assert transport.pool.stats.reused == 0


async def test_preconnect_opens_connections_the_requests_then_use() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS, max_per_origin=4)
        async with httpx.AsyncClient(transport=transport) as client:
            assert await transport.pool.preconnect(server.url, 10) == 4  # bounded by the limit
            assert await transport.pool.preconnect(server.url, 10) == 0  # already there
            async with anyio.create_task_group() as group:
                for i in range(4):
                    group.start_soon(client.get, f"{server.url}/{i}")
        assert transport.pool.stats.opened == 4
        assert transport.pool.stats.preconnected == 4
        assert transport.pool.stats.reused == 4
    assert server.accepted == 4


async def test_a_cancelled_waiter_gives_its_turn_back() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS, max_per_origin=1)
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", f"{server.url}/") as held:
                with anyio.move_on_after(0.05) as scope:
                    await client.get(f"{server.url}/waits")  # no connection free
                assert scope.cancelled_caught
                await held.aread()
            with anyio.fail_after(5):
                assert (await client.get(f"{server.url}/after")).text == "ok"
            assert transport.pool.connections(server.url) == 1


async def test_the_pool_timeout_is_a_pool_timeout() -> None:
    async with serving() as server:
        transport = PoolTransport(TLS, max_per_origin=1)
        timeout = httpx.Timeout(5.0, pool=0.05)
        async with (
            httpx.AsyncClient(transport=transport, timeout=timeout) as client,
            anyio.create_task_group() as group,
        ):
            group.start_soon(client.get, f"{server.url}/slow")
            await anyio.sleep(0.02)
            with pytest.raises(httpx.PoolTimeout):
                await client.get(f"{server.url}/other")
            server.release.set()


async def test_failed_preconnects_give_their_slots_back() -> None:
    async def refused(host: str, port: int) -> anyio.abc.ByteStream:
        raise ConnectionRefusedError(111, "Connection refused")

    transport = PoolTransport(TLS, max_per_origin=4, connect=refused)
    assert await transport.pool.preconnect("http://registry.test", 3) == 0
    assert transport.pool.stats.failed == 3
    assert transport.pool.connections() == 0
    with pytest.raises(httpx.ConnectError, match="refused") as caught:
        await transport.handle_async_request(httpx.Request("GET", "http://registry.test/v2/"))
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert transport.pool.connections() == 0


async def test_a_cancelled_preconnect_gives_its_slots_back() -> None:
    async def hanging(host: str, port: int) -> anyio.abc.ByteStream:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    transport = PoolTransport(TLS, max_per_origin=4, connect=hanging)
    with anyio.move_on_after(0.02):
        await transport.pool.preconnect("http://registry.test", 4)
    assert transport.pool.connections() == 0


async def test_errors_are_httpx_errors() -> None:
    async with serving() as server:
        port = server.port
    transport = PoolTransport(TLS)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")  # nobody listens there any more
        assert transport.pool.connections() == 0  # the failed attempt gave its slot back
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))


async def test_the_standard_stack_puts_no_second_limit_in_front_of_the_pool() -> None:
    async with serving() as server:
        stats = RequestStats()
        transport = build_transport(PoolTransport(TLS, max_per_origin=2), stats=stats)
        async with (
            httpx.AsyncClient(transport=transport) as client,
            anyio.create_task_group() as group,
        ):
            for i in range(20):
                group.start_soon(client.get, f"{server.url}/v2/{i}")
        assert stats.total == 20
    assert server.peak_open <= 2


async def test_the_provider_bounds_connections_per_host() -> None:
    async with RegistryProvider(plain_http=True, max_connections_per_host=3) as registry:
        pool = registry.pool
        assert isinstance(pool, ConnectionPool)
        assert pool.max_per_origin == 3
    async with RegistryProvider(transport=httpx.AsyncHTTPTransport()) as registry:
        assert registry.pool is None


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_per_origin"):
        ConnectionPool(TLS, max_per_origin=0)


def test_the_registry_client_imports_neither_httpcore_nor_trio() -> None:
    """httpcore costs start-up time and imports trio whenever trio is installed (issue #7)."""
    code = "import regimage.registry.client\nregimage.registry.client.RegistryProvider()"
    assert imported_by(code, "httpcore", "trio") == []  # (what is imported stays imported)

"""regimage.preconnect: a TCP connection opened in a thread at start-up, then adopted by the pool."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from regimage import preconnect
from regimage.credentials import CredentialStore
from regimage.registry import RegistryProvider
from tests.lab.lab import Lab


@pytest.fixture(autouse=True)
def nothing_left() -> Iterator[None]:
    yield
    preconnect.discard()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


def port_of(server: socket.socket) -> int:
    return int(server.getsockname()[1])


def wait_done(host: str, port: int) -> preconnect.Pending:
    pending = preconnect.claim(host, port)
    assert pending is not None
    deadline = time.monotonic() + 5
    while not pending.done and time.monotonic() < deadline:
        time.sleep(0.005)
    return pending


def test_a_started_connection_is_claimed_once(listener: socket.socket) -> None:
    port = port_of(listener)
    preconnect.start("127.0.0.1", port)
    preconnect.start("127.0.0.1", port)  # once per host and port
    accepted, _ = listener.accept()
    pending = preconnect.claim("127.0.0.1", port)
    assert pending is not None
    assert preconnect.claim("127.0.0.1", port) is None
    sock = pending.result(5)
    assert sock is not None
    try:
        assert sock.getpeername()[1] == port
        assert not sock.getblocking()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()
        accepted.close()
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()  # the second start opened nothing


def test_nothing_is_claimed_for_another_host_or_port(listener: socket.socket) -> None:
    preconnect.start("127.0.0.1", port_of(listener))
    assert preconnect.claim("127.0.0.1", port_of(listener) + 1) is None
    assert preconnect.claim("localhost", port_of(listener)) is None


def test_a_refused_connection_leaves_nothing_to_use() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = port_of(closed)
    closed.close()
    preconnect.start("127.0.0.1", port)
    assert wait_done("127.0.0.1", port).result(5) is None


def test_a_socket_left_too_long_is_closed_not_used(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preconnect, "MAX_AGE_SECONDS", 0.0)
    preconnect.start("127.0.0.1", port_of(listener))
    accepted, _ = listener.accept()
    pending = wait_done("127.0.0.1", port_of(listener))
    time.sleep(0.01)
    assert pending.result(5) is None
    accepted.settimeout(5)
    assert accepted.recv(1) == b""  # closed by us
    accepted.close()


def test_discard_closes_what_was_not_claimed(listener: socket.socket) -> None:
    preconnect.start("127.0.0.1", port_of(listener))
    accepted, _ = listener.accept()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the thread has the socket
        time.sleep(0.005)
        if "connected" in repr(preconnect._pending.get(("127.0.0.1", port_of(listener)))):
            break
    preconnect.discard()
    accepted.settimeout(5)
    assert accepted.recv(1) == b""
    accepted.close()
    assert preconnect.claim("127.0.0.1", port_of(listener)) is None


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_pool_adopts_the_connection_opened_at_start_up(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = lab.anonymous.host.rsplit(":", 1)
    preconnect.start(host, int(port))
    image = lab.corpus["oci-single"]
    caplog.set_level(logging.DEBUG, logger="regimage")
    async with RegistryProvider(
        plain_http=True, credentials=CredentialStore(env={}, use_files=False)
    ) as registry:
        root = await registry.resolve(lab.anonymous.ref(image.reference))
        pool = registry.pool
        assert pool is not None
        assert pool.stats.opened == 1
    assert str(root.digest) == image.digest
    assert "using the connection opened at start-up" in caplog.text
    assert preconnect.claim(host, int(port)) is None

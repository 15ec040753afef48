"""regimage.preconnect: a TCP connection opened in a thread at start-up, then adopted by the pool."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from regimage import _tls, preconnect
from regimage.credentials import Credentials, CredentialStore
from regimage.errors import NetworkError
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


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_tls_connection_made_at_start_up_serves_the_provider(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """The thread does the TLS handshake too (verified with the same CA as the provider)."""
    host, port = lab.tls.host.rsplit(":", 1)
    assert lab.tls.ca_file is not None
    preconnect.start(host, int(port), tls=True, ca_file=lab.tls.ca_file)
    image = lab.corpus["oci-single"]
    caplog.set_level(logging.DEBUG, logger="regimage")
    store = CredentialStore(Credentials(lab.username, lab.password), env={}, use_files=False)
    async with RegistryProvider(ca_file=lab.tls.ca_file, credentials=store) as registry:
        root = await registry.resolve(lab.tls.ref(image.reference))
        data = await registry.fetch_manifest(lab.tls.ref(image.reference), root)
        pool = registry.pool
        assert pool is not None
        assert pool.stats.opened == 1  # the adopted connection served every request
    assert str(root.digest) == image.digest
    assert len(data) == root.size
    assert "using the connection opened at start-up" in caplog.text


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_untrusted_server_is_not_adopted_and_the_provider_reports_it(
    lab: Lab, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    _tls.default_context.cache_clear()
    host, port = lab.tls.host.rsplit(":", 1)
    preconnect.start(host, int(port), tls=True)  # the lab CA is not trusted
    caplog.set_level(logging.DEBUG, logger="regimage")
    try:
        async with RegistryProvider(
            credentials=CredentialStore(env={}, use_files=False)
        ) as registry:
            with pytest.raises(NetworkError, match="certificate verify failed"):
                await registry.resolve(lab.tls.ref(lab.corpus["oci-single"].reference))
    finally:
        _tls.default_context.cache_clear()
    assert "using the connection opened at start-up" not in caplog.text


def test_a_connection_of_the_wrong_kind_is_closed_not_adopted(listener: socket.socket) -> None:
    port = port_of(listener)
    preconnect.start("127.0.0.1", port)  # plain TCP
    accepted, _ = listener.accept()
    assert preconnect.claim("127.0.0.1", port, tls=True) is None  # TLS wanted: dropped
    accepted.settimeout(5)
    assert accepted.recv(1) == b""
    accepted.close()

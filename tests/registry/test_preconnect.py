"""regimage.registry.preconnect: a connection opened in a thread at start-up, handed to the provider,
adopted by its pool."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from regimage.errors import NetworkError
from regimage.http import tls as _tls
from regimage.registry import preconnect
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.preconnect import Pending, Preconnect
from regimage.registry.probe import Answer
from tests.lab.lab import Lab


@pytest.fixture
def early() -> Iterator[Preconnect]:
    """The hand-over a program makes at start-up; closed at the end, as the CLI does."""
    made = Preconnect()
    yield made
    made.close()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


def port_of(server: socket.socket) -> int:
    return int(server.getsockname()[1])


def wait_done(early: Preconnect, host: str, port: int) -> Pending:
    pending = early.claim(host, port)
    assert pending is not None
    deadline = time.monotonic() + 5
    while not pending.done and time.monotonic() < deadline:
        time.sleep(0.005)
    return pending


def test_a_started_connection_is_claimed_once(early: Preconnect, listener: socket.socket) -> None:
    port = port_of(listener)
    early.start("127.0.0.1", port)
    early.start("127.0.0.1", port)  # once per host and port
    accepted, _ = listener.accept()
    pending = early.claim("127.0.0.1", port)
    assert pending is not None
    assert early.claim("127.0.0.1", port) is None
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


def test_nothing_is_claimed_for_another_host_or_port(
    early: Preconnect, listener: socket.socket
) -> None:
    early.start("127.0.0.1", port_of(listener))
    assert early.claim("127.0.0.1", port_of(listener) + 1) is None
    assert early.claim("localhost", port_of(listener)) is None


def test_a_refused_connection_leaves_nothing_to_use(early: Preconnect) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = port_of(closed)
    closed.close()
    early.start("127.0.0.1", port)
    assert wait_done(early, "127.0.0.1", port).result(5) is None


def test_a_socket_left_too_long_is_closed_not_used(
    early: Preconnect, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preconnect, "MAX_AGE_SECONDS", 0.0)
    early.start("127.0.0.1", port_of(listener))
    accepted, _ = listener.accept()
    pending = wait_done(early, "127.0.0.1", port_of(listener))
    time.sleep(0.01)
    assert pending.result(5) is None
    accepted.settimeout(5)
    assert accepted.recv(1) == b""  # closed by us
    accepted.close()


def test_close_closes_what_was_not_claimed(early: Preconnect, listener: socket.socket) -> None:
    early.start("127.0.0.1", port_of(listener))
    accepted, _ = listener.accept()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the thread has the socket
        time.sleep(0.005)
        if "connected" in repr(early._pending.get(("127.0.0.1", port_of(listener)))):
            break
    early.close()
    accepted.settimeout(5)
    assert accepted.recv(1) == b""
    accepted.close()
    assert early.claim("127.0.0.1", port_of(listener)) is None


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_pool_adopts_the_connection_opened_at_start_up(
    early: Preconnect, lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = lab.anonymous.host.rsplit(":", 1)
    early.start(host, int(port))
    image = lab.corpus["oci-single"]
    caplog.set_level(logging.DEBUG, logger="regimage")
    async with RegistryProvider(
        plain_http=True, credentials=CredentialStore(env={}, use_files=False), preconnect=early
    ) as registry:
        root = await registry.resolve(lab.anonymous.ref(image.reference))
        pool = registry.pool
        assert pool is not None
        assert pool.stats.opened == 1
    assert str(root.digest) == image.digest
    assert "using the connection opened at start-up" in caplog.text
    assert early.claim(host, int(port)) is None


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_tls_connection_made_at_start_up_serves_the_provider(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """The thread does the TLS handshake too (verified with the same CA as the provider)."""
    host, port = lab.tls.host.rsplit(":", 1)
    assert lab.tls.ca_file is not None
    early = Preconnect(ca_file=lab.tls.ca_file)
    early.start(host, int(port), tls=True)
    image = lab.corpus["oci-single"]
    caplog.set_level(logging.DEBUG, logger="regimage")
    store = CredentialStore(Credentials(lab.username, lab.password), env={}, use_files=False)
    try:
        async with RegistryProvider(
            ca_file=lab.tls.ca_file, credentials=store, preconnect=early
        ) as registry:
            root = await registry.resolve(lab.tls.ref(image.reference))
            data = await registry.fetch_manifest(lab.tls.ref(image.reference), root)
            pool = registry.pool
            assert pool is not None
            assert pool.stats.opened == 1  # the adopted connection served every request
    finally:
        early.close()
    assert str(root.digest) == image.digest
    assert len(data) == root.size
    assert "using the connection opened at start-up" in caplog.text


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_untrusted_server_is_not_adopted_and_the_provider_reports_it(
    early: Preconnect,
    lab: Lab,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    _tls.default_context.cache_clear()
    host, port = lab.tls.host.rsplit(":", 1)
    early.start(host, int(port), tls=True)  # the lab CA is not trusted
    caplog.set_level(logging.DEBUG, logger="regimage")
    try:
        async with RegistryProvider(
            credentials=CredentialStore(env={}, use_files=False), preconnect=early
        ) as registry:
            with pytest.raises(NetworkError, match="certificate verify failed"):
                await registry.resolve(lab.tls.ref(lab.corpus["oci-single"].reference))
    finally:
        _tls.default_context.cache_clear()
    assert "using the connection opened at start-up" not in caplog.text


def test_a_connection_of_the_wrong_kind_is_closed_not_adopted(
    early: Preconnect, listener: socket.socket
) -> None:
    port = port_of(listener)
    early.start("127.0.0.1", port)  # plain TCP
    accepted, _ = listener.accept()
    assert early.claim("127.0.0.1", port, tls=True) is None  # TLS wanted: dropped
    accepted.settimeout(5)
    assert accepted.recv(1) == b""
    accepted.close()


# ── the probe: GET /v2/ while the program starts ──────────────────────────────────────────────────


class OneAnswer:
    """A server that reads one request head on its first connection and writes ``answer``."""

    def __init__(self, listener: socket.socket, answer: bytes) -> None:
        self.listener = listener
        self.answer = answer
        self.request = b""
        self.connection: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.connection, _ = self.listener.accept()
        self.connection.settimeout(5)
        while b"\r\n\r\n" not in self.request:
            data = self.connection.recv(4096)
            if not data:
                return
            self.request += data
        self.connection.sendall(self.answer)

    def close(self) -> None:
        self.thread.join(5)
        if self.connection is not None:
            self.connection.close()


def answered(early: Preconnect, host: str, port: int, tls: bool = False) -> Answer | None:
    pending = early.take_answer(host, port, tls=tls)
    assert pending is not None
    return pending.wait_answer(5)


BEARER_401 = (
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
    b'WWW-Authenticate: Bearer realm="http://127.0.0.1:%d/token",service="lab"\r\n'
    b"Content-Length: 14\r\n\r\n"
    b'{"errors": []}'
)


def test_a_probe_sends_get_v2_without_credentials_and_keeps_the_connection(
    early: Preconnect, listener: socket.socket
) -> None:
    realm = socket.create_server(("127.0.0.1", 0))
    realm.settimeout(5)
    server = OneAnswer(listener, BEARER_401 % port_of(realm))
    port = port_of(listener)
    try:
        early.start("127.0.0.1", port, probe=lambda: True)
        answer = answered(early, "127.0.0.1", port)
        assert answer is not None
        assert answer.status == 401
        assert answer.challenges == (
            f'Bearer realm="http://127.0.0.1:{port_of(realm)}/token",service="lab"',
        )
        head = server.request.decode("latin-1").split("\r\n")
        assert head[0] == "GET /v2/ HTTP/1.1"
        fields = {line.split(":", 1)[0].lower() for line in head[1:] if line}
        assert fields == {"host", "user-agent", "accept"}  # no Authorization, no cookie
        assert f"Host: 127.0.0.1:{port}" in head
        # The registry's connection is still good for the next request...
        pending = early.claim("127.0.0.1", port)
        assert pending is not None
        sock = pending.result(5)
        assert sock is not None
        sock.close()
        # ...and the token realm's host is being connected to, for the token request.
        accepted, _ = realm.accept()
        accepted.close()
        assert early.claim("127.0.0.1", port_of(realm)) is not None
        assert early.take_answer("127.0.0.1", port) is None  # taken once
    finally:
        server.close()
        realm.close()


@pytest.mark.parametrize(
    ("answer", "then_close"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
            False,
            id="close",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (70 * 1024) + b"x" * (70 * 1024),
            False,
            id="long-body",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", True, id="cut-short"),
    ],
)
def test_a_probe_whose_connection_cannot_serve_again_hands_over_no_socket(
    early: Preconnect, listener: socket.socket, answer: bytes, then_close: bool
) -> None:
    server = OneAnswer(listener, answer)
    port = port_of(listener)
    try:
        early.start("127.0.0.1", port, probe=lambda: True)
        if then_close:
            server.thread.join(5)
            assert server.connection is not None
            server.connection.close()
        found = answered(early, "127.0.0.1", port)
        assert found is not None
        assert found.status == 200
        assert wait_done(early, "127.0.0.1", port).result(5) is None
    finally:
        server.close()


def test_garbage_is_no_answer(early: Preconnect, listener: socket.socket) -> None:
    server = OneAnswer(listener, b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    port = port_of(listener)
    try:
        early.start("127.0.0.1", port, probe=lambda: True)
        assert answered(early, "127.0.0.1", port) is None
        assert wait_done(early, "127.0.0.1", port).result(5) is None
    finally:
        server.close()


@pytest.mark.parametrize("probe", [lambda: False, lambda: 1 / 0], ids=["declined", "failing"])
def test_a_declined_probe_sends_nothing(
    early: Preconnect, listener: socket.socket, probe: Callable[[], bool]
) -> None:
    port = port_of(listener)
    early.start("127.0.0.1", port, probe=probe)
    accepted, _ = listener.accept()
    try:
        assert answered(early, "127.0.0.1", port) is None
        accepted.settimeout(0.2)
        with pytest.raises(TimeoutError):
            accepted.recv(1)
        sock = wait_done(early, "127.0.0.1", port).result(5)
        assert sock is not None
        sock.close()
    finally:
        accepted.close()


def test_without_a_probe_there_is_no_answer_to_take(
    early: Preconnect, listener: socket.socket
) -> None:
    early.start("127.0.0.1", port_of(listener))
    assert early.take_answer("127.0.0.1", port_of(listener)) is None


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_provider_skips_the_401_with_the_answer_from_start_up(
    early: Preconnect, lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """The token registry: the thread learns the challenge and opens the token server's
    connection; the provider's first request then carries a token (2 requests, not 3)."""
    image = lab.corpus["oci-single"]
    ref = lab.token.ref(image.reference)
    counts = []
    for probe in (False, True):
        if probe:
            host, port = lab.token.host.rsplit(":", 1)
            early.start(host, int(port), probe=lambda: True)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="regimage")
        async with RegistryProvider(
            plain_http=True,
            credentials=CredentialStore(env={}, use_files=False),
            preconnect=early if probe else None,
        ) as registry:
            root = await registry.resolve(ref)
            data = await registry.fetch_manifest(ref, root)
            assert str(root.digest) == image.digest
            assert len(data) == root.size
            counts.append(registry.stats.as_dict())
        if probe:
            assert caplog.text.count("using the connection opened at start-up") == 2
            assert "answered http://" in caplog.text
    without, with_probe = counts
    assert with_probe["token"] == without["token"] == 1
    assert sum(with_probe.values()) == sum(without.values()) - 1  # no 401 for the provider


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_open_registry_answers_the_probe_and_needs_no_token(
    early: Preconnect, lab: Lab
) -> None:
    image = lab.corpus["oci-single"]
    host, port = lab.anonymous.host.rsplit(":", 1)
    early.start(host, int(port), probe=lambda: True)
    async with RegistryProvider(
        plain_http=True, credentials=CredentialStore(env={}, use_files=False), preconnect=early
    ) as registry:
        root = await registry.resolve(lab.anonymous.ref(image.reference))
        assert str(root.digest) == image.digest
        assert registry.stats.total == 1
        assert registry.pool is not None
        assert registry.pool.stats.opened == 1


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_basic_challenge_learned_at_start_up_sends_the_credentials_at_once(
    lab: Lab,
) -> None:
    assert lab.tls.ca_file is not None
    host, port = lab.tls.host.rsplit(":", 1)
    early = Preconnect(ca_file=lab.tls.ca_file)
    early.start(host, int(port), tls=True, probe=lambda: True)
    image = lab.corpus["oci-single"]
    store = CredentialStore(Credentials(lab.username, lab.password), env={}, use_files=False)
    try:
        async with RegistryProvider(
            ca_file=lab.tls.ca_file, credentials=store, preconnect=early
        ) as registry:
            root = await registry.resolve(lab.tls.ref(image.reference))
            assert str(root.digest) == image.digest
            assert registry.stats.total == 1  # no 401 first
    finally:
        early.close()


# ── the token realm: only one the authenticator would contact ──────────────────────────────────


def realm_of(early: Preconnect, registry: Pending, realm: str) -> tuple[str, int, bool] | None:
    """Where the thread would connect for ``registry``'s challenge naming ``realm`` (None: not)."""
    return early._realm_origin(registry, (f'Bearer realm="{realm}",service="r"',))


def test_the_realm_is_checked_with_the_authenticators_rule() -> None:
    plain = Pending("127.0.0.1", 5000)
    tls = Pending("r.test", 443, tls=True)
    anonymous = Preconnect(with_credentials=False)
    with_credentials = Preconnect()
    try:
        for early in (anonymous, with_credentials):
            assert realm_of(early, tls, "https://auth.test/token") == ("auth.test", 443, True)
            assert realm_of(early, plain, "http://127.0.0.1:5001/t") == ("127.0.0.1", 5001, False)
            assert realm_of(early, tls, "ftp://auth.test/token") is None  # not http(s)
            assert realm_of(early, tls, "https:///token") is None  # no host
        # Credentials go to a plain-HTTP realm only from a plain-HTTP loopback registry to a
        # loopback realm: with them, no connection is opened to any other.
        assert realm_of(anonymous, tls, "http://auth.test/token") == ("auth.test", 80, False)
        assert realm_of(with_credentials, tls, "http://auth.test/token") is None
        assert realm_of(with_credentials, tls, "http://127.0.0.1:5001/t") is None
        assert realm_of(with_credentials, plain, "http://auth.test/token") is None
    finally:
        anonymous.close()
        with_credentials.close()


def test_a_probe_does_not_connect_to_a_realm_the_authenticator_refuses(
    early: Preconnect, listener: socket.socket
) -> None:
    realm = socket.create_server(("127.0.0.1", 0))
    realm.settimeout(0.3)
    refused = (
        b"HTTP/1.1 401 Unauthorized\r\n"
        b'WWW-Authenticate: Bearer realm="ftp://127.0.0.1:%d/token"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    server = OneAnswer(listener, refused % port_of(realm))
    port = port_of(listener)
    try:
        early.start("127.0.0.1", port, probe=lambda: True)
        answer = answered(early, "127.0.0.1", port)
        assert answer is not None
        assert answer.status == 401
        with pytest.raises(TimeoutError):
            realm.accept()  # nothing connected to it
        assert early.claim("127.0.0.1", port_of(realm)) is None
    finally:
        server.close()
        realm.close()


def test_close_lets_go_whoever_waits_for_an_attempt(early: Preconnect) -> None:
    """A caller waiting for a connection still being made (an abandoned wait, say) is let go when
    the program closes the hand-over; the socket that comes later is closed."""
    pending = Pending("127.0.0.1", 1)
    early._started.append(pending)
    early.close()
    assert pending.done
    assert pending.take() is None
    sock = socket.socket()
    pending.finish(sock)
    assert sock.fileno() == -1  # closed, not kept

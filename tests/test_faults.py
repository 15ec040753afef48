"""The fault matrix: every fault × every operation, against the real lab registry through a proxy.

One table, :data:`EXPECTED`: for each fault (a row) and operation (a column) the outcome regimage
must give, either the correct answer (``OK``: the retries recovered, or the fault did not touch
anything regimage relies on) or one specific error class. Each cell runs on asyncio and on trio
against the lab's token registry (with credentials, so that every request carries an
``Authorization`` worth leaking) through :class:`~tests.faults.proxy.FaultProxy`, and then checks
what every cell must satisfy whatever its outcome: the right answer when there is one, no
``Authorization`` ever reaching the "other host", every connection closed after ``aclose()``.

Operations: ``resolve`` (GET a manifest by tag), ``manifest`` (GET a manifest by digest),
``blob`` (GET a config blob), ``tags`` (the tags list), ``token`` (the token request of a
resolve). A fault on a registry operation fires on its authorized request (the one that gets the
content); on ``token`` it fires on the token server's answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from regimage.errors import (
    AuthenticationError,
    DigestMismatch,
    InvalidDocument,
    NetworkError,
    RateLimited,
    RegImageError,
    RegistryError,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.http.retry import RetryPolicy
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.expected_descriptors import config_descriptor, manifest_descriptor
from tests.faults.proxy import FaultProxy, Rule
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

IMAGE = "oci-index"
#: Socket timeout for cells that stall or hang: the proxy waits 1 s between bytes.
SHORT_TIMEOUT = 0.3
#: Socket timeout for every other cell (loopback answers in milliseconds).
TIMEOUT = 10.0


class _Ok:
    def __repr__(self) -> str:
        return "OK"


#: The correct answer.
OK: Any = _Ok()

OPERATIONS = ("resolve", "manifest", "blob", "tags", "token")
_TARGET = {
    "resolve": r"/manifests/(?!sha256:)",
    "manifest": r"/manifests/sha256:",
    "blob": r"/blobs/",
    "tags": r"/tags/list",
}


@dataclass(frozen=True)
class FaultRow:
    """A fault as the proxy injects it, and its expected outcome per operation."""

    fault: str
    expected: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1  # None: every matching request
    short_timeout: bool = False
    warm_token: bool = False  # get the token before the operation (the fault hits a cached one)

    def rule(self, operation: str) -> Rule:
        options = dict(self.options)
        if operation == "token" and self.fault != "invalid_token":
            return Rule(self.fault, upstream="token", times=self.times, options=options)  # type: ignore[arg-type]
        path = _TARGET.get(operation, _TARGET["resolve"])
        return Rule(self.fault, path=path, bearer=True, times=self.times, options=options)  # type: ignore[arg-type]


def _all(outcome: Any, **overrides: Any) -> dict[str, Any]:
    return {op: overrides.get(op, outcome) for op in OPERATIONS}


# What is right, cell by cell. Recoverable answers (a 5xx or 429 once, a reset before the answer)
# must be retried into the correct answer; content that cannot be trusted must be refused with the
# class naming why; a dead or slow connection is a NetworkError, never a hang.
EXPECTED: dict[str, FaultRow] = {
    "429-retry-after": FaultRow("status", _all(OK), {"status": 429, "retry_after": 1}),
    "429-storm": FaultRow("status", _all(RateLimited), {"status": 429}, times=None),
    "500": FaultRow("status", _all(OK), {"status": 500}),
    "502": FaultRow("status", _all(OK), {"status": 502}),
    "503-retry-after": FaultRow("status", _all(OK), {"status": 503, "retry_after": 2}),
    "503-storm": FaultRow("status", _all(RegistryError), {"status": 503}, times=None),
    "html-502": FaultRow("html", _all(OK), {"status": 502}),
    "html-200": FaultRow(
        "html",
        _all(SizeMismatch, resolve=UnsupportedMediaType, tags=InvalidDocument, token=RegistryError),
        {"status": 200},
    ),
    "reset": FaultRow("reset", _all(OK)),
    "reset-storm": FaultRow("reset", _all(NetworkError), times=None),
    "hang": FaultRow("hang", _all(NetworkError), short_timeout=True),
    "stall": FaultRow("stall", _all(NetworkError), short_timeout=True),
    "truncate": FaultRow("truncate", _all(NetworkError)),
    "length-long": FaultRow(
        "length_long", _all(NetworkError, manifest=SizeMismatch, blob=SizeMismatch)
    ),
    "length-short": FaultRow(
        "length_short",
        _all(SizeMismatch, resolve=DigestMismatch, tags=InvalidDocument, token=RegistryError),
    ),
    "corrupt": FaultRow("corrupt", _all(DigestMismatch, tags=InvalidDocument, token=RegistryError)),
    "swap-type": FaultRow("swap_type", _all(OK, resolve=InvalidDocument)),
    "drop-digest": FaultRow("drop_digest", _all(OK)),
    # a cached token refused as expired is renewed; on "token", the fresh token itself is refused
    "invalid-token": FaultRow(
        "invalid_token", _all(OK, token=AuthenticationError), warm_token=True
    ),
    "redirect-loop": FaultRow("redirect_loop", _all(RegistryError), times=None),
    "redirect-other-host": FaultRow("redirect_other", _all(OK)),
    "redirect-file": FaultRow(
        "redirect_to", _all(RegistryError), {"location": "file:///etc/passwd"}
    ),
    "redirect-ftp": FaultRow(
        "redirect_to", _all(RegistryError), {"location": "ftp://127.0.0.1:21/etc/passwd"}
    ),
}

CELLS = [
    pytest.param(name, operation, id=f"{name}-{operation}")
    for name in EXPECTED
    for operation in OPERATIONS
]


class NoSleep:
    """The retry policy's sleep: records the delays, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(scope="module")
def proxy(lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy.for_lab(lab.token) as running:
        yield running


def make_provider(
    lab: Lab, proxy: FaultProxy, sleep: NoSleep, *, timeout: float = TIMEOUT
) -> RegistryProvider:
    store = CredentialStore(
        {proxy.host: Credentials(lab.username, lab.password)}, env={}, use_files=False
    )
    return RegistryProvider(
        credentials=store,
        plain_http=True,
        retry=RetryPolicy(sleep=sleep),
        timeout=timeout,
    )


async def run_operation(
    registry: RegistryProvider, proxy: FaultProxy, image: ExpectedImage, operation: str
) -> None:
    """Run one operation and check its answer against the lab's corpus; raises what it raises."""
    ref = proxy.ref(image.reference)
    platform = image.default
    if operation in ("resolve", "token"):
        found = await registry.resolve(ref)
        assert found == Descriptor(image.media_type, Digest.parse(image.digest), image.size)
    elif operation == "manifest":
        data = await registry.fetch_manifest(ref, manifest_descriptor(platform))
        assert str(Digest.of(data)) == platform.manifest_digest
    elif operation == "blob":
        data = await registry.fetch_blob(ref, config_descriptor(platform))
        assert str(Digest.of(data)) == platform.config_digest
    elif operation == "tags":
        tags = await registry.tags(Reference.parse_repository(f"{proxy.host}/{image.repository}"))
        assert sorted(tags) == sorted(image.repository_tags)
    else:  # pragma: no cover - OPERATIONS lists the cases above
        raise AssertionError(operation)


@pytest.mark.parametrize(("name", "operation"), CELLS)
async def test_fault_matrix(lab: Lab, proxy: FaultProxy, name: str, operation: str) -> None:
    row = EXPECTED[name]
    expected = row.expected[operation]
    image = lab.corpus[IMAGE]
    sleep = NoSleep()
    proxy.clear()
    timeout = SHORT_TIMEOUT if row.short_timeout else TIMEOUT
    async with make_provider(lab, proxy, sleep, timeout=timeout) as registry:
        if row.warm_token and operation != "token":
            await registry.authorize([proxy.ref(image.reference)])
        proxy.set_rules([row.rule(operation)])
        if expected is OK:
            await run_operation(registry, proxy, image, operation)
        else:
            with pytest.raises(RegImageError) as caught:
                await run_operation(registry, proxy, image, operation)
            assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"
    records = proxy.records
    assert proxy.injected, "the fault was never injected: the cell tests nothing"
    # Credentials and tokens stay on the registry and its realm: never at the other host.
    assert [r.authorization for r in records if r.listener == "other"] == [None] * sum(
        r.listener == "other" for r in records
    )
    if row.fault == "redirect_other":
        assert any(r.listener == "other" for r in records)
    if row.options.get("retry_after") is not None and expected is OK:
        assert sleep.delays == [float(row.options["retry_after"])]
    # Every connection regimage opened is closed once the provider is.
    assert proxy.wait_idle(5.0), f"{proxy.listener.open_connections} connections left open"


@pytest.fixture(scope="module")
def anonymous_proxy(lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy.for_lab(lab.anonymous) as running:
        yield running


#: The anonymous registry has no token server: the registry columns of a few rows, same table.
ANONYMOUS_CELLS = [
    pytest.param(name, operation, id=f"{name}-{operation}")
    for name in ("503-storm", "reset", "truncate", "corrupt", "swap-type", "redirect-other-host")
    for operation in ("resolve", "blob")
]


@pytest.mark.parametrize(("name", "operation"), ANONYMOUS_CELLS)
async def test_fault_matrix_anonymous_registry(
    lab: Lab, anonymous_proxy: FaultProxy, name: str, operation: str
) -> None:
    row = EXPECTED[name]
    expected = row.expected[operation]
    image = lab.corpus[IMAGE]
    rule = row.rule(operation)
    anonymous_proxy.set_rules(
        [Rule(rule.fault, path=rule.path, times=rule.times, options=rule.options)]
    )
    async with RegistryProvider(
        credentials=CredentialStore(env={}, use_files=False),
        plain_http=True,
        retry=RetryPolicy(sleep=NoSleep()),
        timeout=TIMEOUT,
    ) as registry:
        if expected is OK:
            await run_operation(registry, anonymous_proxy, image, operation)
        else:
            with pytest.raises(RegImageError) as caught:
                await run_operation(registry, anonymous_proxy, image, operation)
            assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"
        assert registry.stats["token"] == 0
    assert anonymous_proxy.injected
    assert anonymous_proxy.wait_idle(5.0)


@pytest.mark.parametrize("credentials", [False, True], ids=["anonymous", "credentials"])
async def test_a_token_refused_at_once_is_not_blamed_on_the_password(
    lab: Lab, proxy: FaultProxy, credentials: bool
) -> None:
    """A fresh token the registry calls ``invalid_token`` (clock skew, a token server it does not
    trust): the token server took the credentials, so the error must not send the user to check
    them, nor ask for credentials that would not help."""
    proxy.set_rules([Rule("invalid_token", path="/manifests/", bearer=True, times=None)])
    store = CredentialStore(
        {proxy.host: Credentials(lab.username, lab.password)} if credentials else None,
        env={},
        use_files=False,
    )
    async with RegistryProvider(credentials=store, plain_http=True, timeout=TIMEOUT) as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.resolve(proxy.ref(lab.corpus[IMAGE].reference))
        assert registry.stats["token"] == 1
    message = str(caught.value)
    assert "invalid_token" in message
    assert "token" in message.replace("invalid_token", "")
    assert "check the username and password" not in message
    assert "no credentials were found" not in message


async def test_an_expired_token_is_renewed_not_reported(lab: Lab, proxy: FaultProxy) -> None:
    """Tokens that expire early (the token server says so): the next request gets a new one."""
    now = [1_000.0]
    image = next(iter(lab.private.values()))
    reference, digest = image.reference, image.digest
    proxy.clear()
    with lab.token_server.expires_in(2):
        async with RegistryProvider(
            credentials=CredentialStore(
                {proxy.host: Credentials(lab.username, lab.password)}, env={}, use_files=False
            ),
            plain_http=True,
            clock=lambda: now[0],
        ) as registry:
            assert str((await registry.resolve(proxy.ref(reference))).digest) == digest
            assert registry.stats["token"] == 1
            await registry.resolve(proxy.ref(reference))
            assert registry.stats["token"] == 1  # still valid: reused
            now[0] += 3
            assert str((await registry.resolve(proxy.ref(reference))).digest) == digest
            assert registry.stats["token"] == 2  # expired by its own clock: renewed
    assert [r.path.startswith("/token") for r in proxy.records].count(True) == 2

"""Mirrors in front of a registry, on loopback servers of our own: which host answers what, and
that a mirror that is down, fails or lies makes a pull slower but never wrong.

The mirror and the registry are :class:`~tests.faults.server.ScriptedServer` s speaking just
enough of the distribution API (:class:`~tests.faults.documents.MiniRegistry`); the lab's real
pull-through cache has tests of its own (``test_mirrors_lab.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import pytest

from regimage.errors import DigestMismatch, NotFound, RegistryBlocked
from regimage.http.retry import RetryPolicy
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import CredentialStore
from regimage.registry.hosts_toml import HostsFile
from regimage.registry.mirrors import Mirror, Mirrors
from regimage.registry.registries_conf import RegistriesConf
from regimage.registry.routing import MIRROR_RETRY_SECONDS
from tests.faults.documents import Blob, MiniRegistry, config_blob, manifest_blob
from tests.faults.server import Reply, Request, ScriptedServer
from tests.lab.registry import free_port

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 30


async def no_sleep(delay: float) -> None:
    """Retries in these tests never wait."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Image1:
    config: Blob
    manifest: Blob

    def registry(self, **overrides: object) -> MiniRegistry:
        return MiniRegistry(
            [self.config, self.manifest],
            {"v1": self.manifest.digest},
            overrides=overrides,  # type: ignore[arg-type]
        )


IMAGE = Image1(config_blob("amd64"), manifest_blob(config_blob("amd64")))
OTHER = Image1(config_blob("arm64"), manifest_blob(config_blob("arm64")))


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="regimage")
    return caplog


def provider(mirrors: Mirrors, **kwargs: object) -> RegistryProvider:
    return RegistryProvider(
        credentials=CredentialStore(env={}, use_files=False),
        plain_http=True,
        retry=RetryPolicy(sleep=no_sleep),
        mirrors=mirrors,
        **kwargs,  # type: ignore[arg-type]
    )


def answered_by(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The hosts that answered, in order, as the -v log names them."""
    pattern = re.compile(r" answered by (\S+) ")
    return [m[1] for r in caplog.records if (m := pattern.search(r.getMessage()))]


def failed(caplog: pytest.LogCaptureFixture) -> list[str]:
    pattern = re.compile(r": mirror (\S+) failed: ")
    return [m[1] for r in caplog.records if (m := pattern.search(r.getMessage()))]


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(IMAGE.registry()) as server:
        yield server


async def read_image(registry: RegistryProvider, ref: str) -> Descriptor:
    """Resolve ``ref``, read its manifest and config; check the config's bytes."""
    with anyio.fail_after(WAIT_SECONDS):
        image = await Image.resolve(ref, registry)
        config = await image.config()
    assert str(config.digest) == IMAGE.config.digest
    return image.target


async def test_a_mirror_that_answers_serves_everything(
    upstream: ScriptedServer, debug_log: pytest.LogCaptureFixture
) -> None:
    with ScriptedServer(IMAGE.registry()) as mirror:
        mirrors = Mirrors((Mirror(upstream.host, f"{mirror.host}/cache"),))
        async with provider(mirrors) as registry:
            target = await read_image(registry, upstream.ref("team/app:v1"))
        assert str(target.digest) == IMAGE.manifest.digest
        assert upstream.requests == []
        assert {r.path.split("?")[0] for r in mirror.requests} >= {
            "/v2/cache/team/app/manifests/v1",
            f"/v2/cache/team/app/blobs/{IMAGE.config.digest}",
        }
    assert set(answered_by(debug_log)) == {mirror.host}


async def test_a_mirror_that_is_down_is_left_out_a_while(
    upstream: ScriptedServer, debug_log: pytest.LogCaptureFixture
) -> None:
    down = f"127.0.0.1:{free_port()}"  # nobody listens there
    clock = FakeClock()
    mirrors = Mirrors((Mirror(upstream.host, down),))
    async with provider(mirrors, clock=clock) as registry:
        await read_image(registry, upstream.ref("team/app:v1"))
        await read_image(registry, upstream.ref("team/app:v1"))
        assert failed(debug_log) == [down]  # asked once, then left out
        clock.now += MIRROR_RETRY_SECONDS + 1
        debug_log.clear()
        with anyio.fail_after(WAIT_SECONDS):
            await registry.resolve(upstream.ref("team/app:v1"))
        assert failed(debug_log) == [down]  # asked again once the time is up
    assert set(answered_by(debug_log)) == {upstream.host}


@pytest.mark.parametrize(
    ("status", "left_out"), [(404, False), (401, False), (500, True), (503, True), (429, True)]
)
async def test_a_mirror_that_refuses_hands_over_to_the_registry(
    upstream: ScriptedServer, debug_log: pytest.LogCaptureFixture, status: int, left_out: bool
) -> None:
    """A mirror without the image is asked again next time; one in trouble is left out a while."""
    with ScriptedServer(lambda _: Reply(status, {"Content-Type": "text/plain"}, b"no")) as mirror:
        async with provider(Mirrors((Mirror(upstream.host, mirror.host),))) as registry:
            await read_image(registry, upstream.ref("team/app:v1"))
            await read_image(registry, upstream.ref("team/app:v1"))
        assert mirror.requests  # it was asked
    assert set(failed(debug_log)) == {mirror.host}
    # left out: the first tag only; else the tag twice and the config once (then cached)
    assert len(failed(debug_log)) == (1 if left_out else 3)
    assert set(answered_by(debug_log)) == {upstream.host}


def _lie(request: Request) -> Reply:
    """Wrong bytes for everything, under the right digests' names."""
    digest = request.path.rsplit("/", 1)[-1]
    headers = {"Docker-Content-Digest": IMAGE.manifest.digest if ":" not in digest else digest}
    if "/manifests/" in request.path:
        headers["Content-Type"] = OTHER.manifest.media_type
        return Reply(200, headers, OTHER.manifest.data)
    headers["Content-Type"] = "application/octet-stream"
    return Reply(200, headers, OTHER.config.data)


async def test_a_lying_mirror_never_gives_a_wrong_answer(
    upstream: ScriptedServer, debug_log: pytest.LogCaptureFixture
) -> None:
    """A tag's body against its own Docker-Content-Digest, and everything by digest: a lie is a
    mismatch, and the registry answers instead."""
    with ScriptedServer(_lie) as mirror:
        async with provider(Mirrors((Mirror(upstream.host, mirror.host),))) as registry:
            target = await read_image(registry, upstream.ref("team/app:v1"))
            with anyio.fail_after(WAIT_SECONDS):
                pinned = await registry.resolve(upstream.ref(f"team/app@{IMAGE.manifest.digest}"))
        assert str(target.digest) == str(pinned.digest) == IMAGE.manifest.digest
        assert {r.path for r in mirror.requests} == {
            "/v2/team/app/manifests/v1",
            f"/v2/team/app/manifests/{IMAGE.manifest.digest}",
            f"/v2/team/app/blobs/{IMAGE.config.digest}",
        }
    assert any("does not match" in r.getMessage() for r in debug_log.records)
    assert set(answered_by(debug_log)) == {upstream.host}


async def _drain(registry: RegistryProvider, ref: str, descriptor: Descriptor) -> None:
    async with registry.stream_blob(ref, descriptor) as chunks:
        async for _ in chunks:
            pass


async def test_a_streamed_blob_from_a_lying_mirror_ends_in_a_clear_error(
    upstream: ScriptedServer,
) -> None:
    """Bytes already handed on cannot be taken back: the stream raises at its end."""
    # the lie is as long as the descriptor says: only the digest can tell
    config = Descriptor(
        IMAGE.config.media_type, Digest.parse(IMAGE.config.digest), len(OTHER.config.data)
    )
    with ScriptedServer(_lie) as mirror:
        async with provider(Mirrors((Mirror(upstream.host, mirror.host),))) as registry:
            with anyio.fail_after(WAIT_SECONDS), pytest.raises(DigestMismatch):
                await _drain(registry, upstream.ref("team/app:v1"), config)


async def test_a_mirror_that_may_not_resolve_tags_serves_digests_only(
    upstream: ScriptedServer, debug_log: pytest.LogCaptureFixture
) -> None:
    """containerd's ``capabilities = ["pull"]``: the tag goes to the registry (the mirror maps it
    elsewhere, and is not asked), the content by digest to the mirror."""
    liar = OTHER.registry()
    liar.add(IMAGE.manifest)
    liar.add(IMAGE.config)
    with ScriptedServer(liar) as mirror:
        namespace = upstream.host.replace(":", "_") + "_"
        hosts = HostsFile.parse(
            f'[host."http://{mirror.host}"]\ncapabilities = ["pull"]\n',
            namespace=namespace,
            directory="/etc/containerd/certs.d/" + namespace,
            origin="hosts.toml",
        )
        async with provider(Mirrors(hosts=(hosts,))) as registry:
            target = await read_image(registry, upstream.ref("team/app:v1"))
        assert str(target.digest) == IMAGE.manifest.digest
        assert [r.path for r in upstream.requests if r.method == "GET"] == [
            "/v2/team/app/manifests/v1"
        ]
        assert f"/v2/team/app/blobs/{IMAGE.config.digest}" in {r.path for r in mirror.requests}
        assert not any("/manifests/v1" in r.path for r in mirror.requests)


async def test_when_every_source_fails_the_registrys_own_error_is_raised(
    upstream: ScriptedServer,
) -> None:
    with ScriptedServer(lambda _: Reply(503, {}, b"")) as mirror:
        async with provider(Mirrors((Mirror(upstream.host, mirror.host),))) as registry:
            with anyio.fail_after(WAIT_SECONDS), pytest.raises(NotFound) as caught:
                await registry.resolve(upstream.ref("team/app:missing"))
    assert upstream.host in str(caught.value.url)


async def test_a_blocked_registry_is_never_asked(upstream: ScriptedServer) -> None:
    conf = RegistriesConf.parse(
        f'[[registry]]\nlocation = "{upstream.host}"\nblocked = true\n', origin="registries.conf"
    )
    async with provider(Mirrors(registries_conf=conf)) as registry:
        with pytest.raises(RegistryBlocked, match=r"blocked by registries\.conf"):
            await registry.resolve(upstream.ref("team/app:v1"))
        with pytest.raises(RegistryBlocked):
            await registry.tags(upstream.ref("team/app"))
    assert upstream.requests == []


async def test_lists_go_to_the_registry_itself(upstream: ScriptedServer) -> None:
    with ScriptedServer(MiniRegistry(tags={"mirror-only": IMAGE.manifest.digest})) as mirror:
        async with provider(Mirrors((Mirror(upstream.host, mirror.host),))) as registry:
            with anyio.fail_after(WAIT_SECONDS):
                tags = await registry.tags(upstream.ref("team/app"))
        assert tags == ["v1"]
        assert mirror.requests == []

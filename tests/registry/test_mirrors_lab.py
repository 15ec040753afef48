"""Mirrors against the lab: a real one (CNCF Distribution as a pull-through cache of the anonymous
registry, ``lab_mirror``), one that is down, one that lies, one that may not resolve tags, and
the files users write them in (registries.conf, hosts.toml) read from a temporary root."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anyio
import pytest

from regimage.errors import NetworkError, RegistryBlocked
from regimage.http.retry import RetryPolicy
from regimage.image.image import Image
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from regimage.registry.mirror_files import load_mirrors
from regimage.registry.mirrors import Mirror, Mirrors
from tests.expected_descriptors import config_descriptor
from tests.faults.server import Reply, Request, ScriptedServer
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab, LabRegistry
from tests.lab.registry import free_port

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

WAIT_SECONDS = 60
#: An index (root, platform manifest, config) and a single manifest.
IMAGES = ("oci-index", "docker-schema2")
_REQUEST = re.compile(r"^(GET|HEAD) https?://([^/]+)(/\S*) (\d+) ")


async def no_sleep(delay: float) -> None:
    """Retries in these tests never wait."""


def seen(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    """(method, host, path) of every request answered, as the -v log names them."""
    return [
        (m[1], m[2], m[3].split("?")[0])
        for r in caplog.records
        if (m := _REQUEST.match(r.getMessage()))
    ]


def provider(mirrors: Mirrors) -> RegistryProvider:
    return RegistryProvider(
        credentials=CredentialStore(env={}, use_files=False),
        retry=RetryPolicy(sleep=no_sleep),
        mirrors=mirrors,
    )


async def read(registry: RegistryProvider, ref: str, image: ExpectedImage) -> None:
    """Resolve ``ref`` and read the default platform's config; compare with the corpus."""
    with anyio.fail_after(WAIT_SECONDS):
        resolved = await Image.resolve(ref, registry)
        config = await resolved.config()
    assert str(resolved.target.digest) == image.digest
    assert config.descriptor == config_descriptor(image.default)


@pytest.mark.parametrize("name", IMAGES)
async def test_a_mirror_that_answers(
    lab: Lab, lab_mirror: LabRegistry, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    image = lab.corpus[name]
    mirrors = Mirrors((Mirror(lab.anonymous.host, lab_mirror.host),))
    async with provider(mirrors) as registry:
        await read(registry, lab.anonymous.ref(image.reference), image)
    hosts = {host for _, host, _ in seen(caplog)}
    assert hosts == {lab_mirror.host}  # the registry itself was not asked


async def test_a_mirror_that_is_down(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    image = lab.corpus["oci-index"]
    down = f"127.0.0.1:{free_port()}"
    async with provider(Mirrors((Mirror(lab.anonymous.host, down),))) as registry:
        await read(registry, lab.anonymous.ref(image.reference), image)
    assert {host for _, host, _ in seen(caplog)} == {lab.anonymous.host}
    failures = [r.getMessage() for r in caplog.records if f"mirror {down} failed" in r.getMessage()]
    assert len(failures) == 1  # then left out


def _liar(image: ExpectedImage) -> ScriptedServer:
    """Answers every manifest and blob with the same wrong document, claiming the digest asked
    for (or, for a tag, the image's own)."""

    def answer(request: Request) -> Reply:
        if request.path == "/v2/":
            return Reply(200, {}, b"{}")
        name = request.path.rsplit("/", 1)[-1]
        digest = name if name.startswith("sha256:") else image.digest
        body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
        headers = {
            "Content-Type": "application/vnd.oci.image.index.v1+json",
            "Docker-Content-Digest": digest,
        }
        return Reply(200, headers, body)

    return ScriptedServer(answer)


async def test_a_mirror_that_lies(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    image = lab.corpus["oci-index"]
    with _liar(image) as liar:
        async with provider(Mirrors((Mirror(lab.anonymous.host, liar.host),))) as registry:
            await read(registry, lab.anonymous.ref(image.reference), image)
            with anyio.fail_after(WAIT_SECONDS):
                pinned = await registry.resolve(lab.anonymous.ref(image.by_digest))
        assert str(pinned.digest) == image.digest
        asked = {r.path for r in liar.requests}
    assert f"/v2/{image.repository}/manifests/{image.tag}" in asked
    assert f"/v2/{image.repository}/manifests/{image.digest}" in asked
    failures = [r for r in caplog.records if f"mirror {liar.host} failed" in r.getMessage()]
    assert len(failures) == 4  # the tag, the platform's manifest, the config, the index by digest
    assert not [r for r in caplog.records if f"answered by {liar.host}" in r.getMessage()]


def _hosts_toml(root: Path, registry: str, mirror: str, capabilities: str) -> Path:
    directory = root / "etc/containerd/certs.d" / f"{registry.replace(':', '_')}_"
    directory.mkdir(parents=True)
    (directory / "hosts.toml").write_text(
        f'server = "http://{registry}"\n\n'
        f'[host."http://{mirror}"]\n  capabilities = {capabilities}\n'
    )
    return directory


async def test_a_mirror_that_may_not_resolve_tags(
    lab: Lab, lab_mirror: LabRegistry, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """hosts.toml ``capabilities = ["pull"]``: the tag goes to the registry, digests to the
    mirror."""
    caplog.set_level(logging.DEBUG, logger="regimage")
    _hosts_toml(tmp_path, lab.anonymous.host, lab_mirror.host, '["pull"]')
    mirrors = load_mirrors(environ={}, root=tmp_path)
    image = lab.corpus["oci-index"]
    async with provider(mirrors) as registry:
        await read(registry, lab.anonymous.ref(image.reference), image)
    requests = seen(caplog)
    tag_path = f"/v2/{image.repository}/manifests/{image.tag}"
    assert [(host, path) for _, host, path in requests if path == tag_path] == [
        (lab.anonymous.host, tag_path)
    ]
    by_digest = {host for _, host, path in requests if "sha256:" in path}
    assert by_digest == {lab_mirror.host}


async def test_registries_conf_mirror_by_digest_only(
    lab: Lab, lab_mirror: LabRegistry, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Podman's ``mirror-by-digest-only``: a reference by tag never goes to the mirror, one by
    digest does."""
    caplog.set_level(logging.DEBUG, logger="regimage")
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nlocation = "{lab.anonymous.host}"\nmirror-by-digest-only = true\n'
        f'[[registry.mirror]]\nlocation = "{lab_mirror.host}"\n'
    )
    mirrors = load_mirrors(environ={"CONTAINERS_REGISTRIES_CONF": str(conf)}, root=tmp_path)
    image = lab.corpus["docker-schema2"]
    async with provider(mirrors) as registry:
        await read(registry, lab.anonymous.ref(image.reference), image)
        assert {host for _, host, _ in seen(caplog)} == {lab.anonymous.host}
        caplog.clear()
        await read(registry, lab.anonymous.ref(image.by_digest), image)
        assert {host for _, host, _ in seen(caplog)} == {lab_mirror.host}


async def test_a_blocked_registry(lab: Lab, tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    public = f"{lab.anonymous.host}/public"
    conf.write_text(f'[[registry]]\nlocation = "{public}"\nblocked = true\n')
    mirrors = load_mirrors(environ={"CONTAINERS_REGISTRIES_CONF": str(conf)}, root=tmp_path)
    image = lab.corpus["docker-schema2"]
    async with provider(mirrors) as registry:
        with pytest.raises(RegistryBlocked, match="blocked by"):
            await registry.resolve(lab.anonymous.ref(image.reference))
        assert registry.stats.total == 0


async def test_hosts_toml_ca_is_trusted_for_its_registry(lab: Lab, tmp_path: Path) -> None:
    """A ``ca`` of hosts.toml (relative to its directory) verifies that registry's certificate,
    as containerd's does; without it the lab's per-run CA is unknown."""
    assert lab.tls.ca_file is not None
    directory = tmp_path / "etc/containerd/certs.d" / lab.tls.host
    directory.mkdir(parents=True)
    (directory / "lab-ca.pem").write_bytes(lab.tls.ca_file.read_bytes())
    (directory / "hosts.toml").write_text('ca = "lab-ca.pem"\n')
    image = lab.corpus["docker-schema2"]
    credentials = CredentialStore(
        Credentials(lab.tls.username, lab.tls.password), env={}, use_files=False
    )
    for mirrors in (Mirrors(), load_mirrors(environ={}, root=tmp_path)):
        registry = RegistryProvider(credentials=credentials, certs_d=(), mirrors=mirrors)
        async with registry:
            with anyio.fail_after(WAIT_SECONDS):
                if not mirrors:
                    with pytest.raises(NetworkError, match="certificate"):
                        await registry.resolve(lab.tls.ref(image.reference))
                    continue
                resolved = await registry.resolve(lab.tls.ref(image.reference))
        assert str(resolved.digest) == image.digest

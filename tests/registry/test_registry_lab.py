"""RegistryProvider against the real lab: CNCF Distribution 2.8 (anonymous, token, basic+TLS)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from regimage.errors import AuthenticationError, NetworkError, NotFound
from regimage.model import mediatypes
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import Credentials, CredentialStore
from tests.expected_descriptors import config_descriptor, manifest_descriptor
from tests.lab.expected import ExpectedImage
from tests.lab.lab import Lab, LabRegistry

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

#: Corpus images that have a platform to pick on linux/amd64.
IMAGES = [
    "oci-single",
    "docker-schema2",
    "oci-index",
    "docker-list",
    "attested",
    "nested",
    "many-layers",
    "dup-layer",
    "uncompressed",
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def no_files() -> CredentialStore:
    """No credentials at all (the developer's own auth files stay out of the tests)."""
    return CredentialStore(env={}, use_files=False)


def provider(
    registry: LabRegistry, *, credentials: bool = False, **kwargs: object
) -> RegistryProvider:
    store = (
        CredentialStore(Credentials(registry.username, registry.password), env={}, use_files=False)
        if credentials
        else no_files()
    )
    return RegistryProvider(
        credentials=store,
        ca_file=registry.ca_file,
        **kwargs,  # type: ignore[arg-type]
    )


async def check_image(registry: RegistryProvider, ref: str, image: ExpectedImage) -> None:
    """Resolve ``ref``, read the root, the default platform's manifest and config; compare."""
    root = await registry.resolve(ref)
    assert str(root.digest) == image.digest
    assert root.media_type == image.media_type
    assert root.size == image.size
    data = await registry.fetch_manifest(ref, root)
    assert Digest.of(data) == root.digest
    platform = image.default
    manifest = manifest_descriptor(platform)
    manifest_bytes = await registry.repository(ref).fetch(manifest)
    assert len(manifest_bytes) == platform.manifest_size
    config = config_descriptor(platform)
    config_bytes = await registry.repository(ref).fetch(config)
    assert tuple(json.loads(config_bytes)["rootfs"]["diff_ids"]) == platform.diff_ids


# ── anonymous registry ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", IMAGES)
async def test_anonymous_registry_corpus(lab: Lab, name: str) -> None:
    image = lab.corpus[name]
    async with provider(lab.anonymous) as registry:
        await check_image(registry, lab.anonymous.ref(image.reference), image)
        # one GET for the root (resolve and fetch_manifest share it), the platform's manifest
        # (read directly, past any nested index), its config
        expected = {"blob": 1, "manifest": 2 if image.is_index else 1}
        assert registry.stats.as_dict() == expected


async def test_resolve_by_digest_and_with_head(lab: Lab) -> None:
    image = lab.corpus["oci-index"]
    async with provider(lab.anonymous) as registry:
        by_digest = await registry.resolve(lab.anonymous.ref(image.by_digest))
        headed = await registry.resolve(lab.anonymous.ref(image.reference), head=True)
        assert str(by_digest.digest) == str(headed.digest) == image.digest
        assert headed.media_type == mediatypes.OCI_INDEX
        assert headed.size == image.size
        assert registry.stats.as_dict() == {"manifest": 1, "manifest-head": 1}


async def test_artifact_manifest(lab: Lab) -> None:
    image = lab.corpus["artifact"]
    async with provider(lab.anonymous) as registry:
        ref = lab.anonymous.ref(image.reference)
        root = await registry.resolve(ref)
        assert str(root.digest) == image.digest
        document = json.loads(await registry.fetch_manifest(ref, root))
        assert document["artifactType"] == "application/spdx+json"


async def test_missing_tag_and_repository(lab: Lab) -> None:
    async with provider(lab.anonymous) as registry:
        with pytest.raises(NotFound) as caught:
            await registry.resolve(lab.anonymous.ref("public/oci-single:nope"))
        assert str(caught.value) == (
            f"tag 'nope' not found in {lab.anonymous.host}/public/oci-single"
        )
        with pytest.raises(NotFound, match="not found"):
            await registry.resolve(lab.anonymous.ref("public/no-such-repo:v1"))


async def test_tags_and_catalog(lab: Lab) -> None:
    image = lab.corpus["oci-single"]
    async with provider(lab.anonymous) as registry:
        tags = await registry.tags(f"{lab.anonymous.host}/{image.repository}")
        assert sorted(tags) == sorted(image.repository_tags)
        catalog = await registry.catalog(lab.anonymous.host)
        assert {i.repository for i in lab.corpus.values()} <= set(catalog)
        paged = await registry.catalog(lab.anonymous.host, page_size=3)
        assert paged == catalog
        # one unpaged request, then at least ceil(n / 3) pages
        assert registry.stats["catalog"] >= 1 + -(-len(catalog) // 3)


async def test_referrers_fall_back_to_the_tag(lab: Lab) -> None:
    image = lab.corpus["oci-single"]
    (expected,) = image.referrers
    async with provider(lab.anonymous) as registry:
        ref = lab.anonymous.ref(image.reference)
        found = await registry.referrers(ref, Digest.parse(image.digest))
        assert [(str(d.digest), d.artifact_type, d.size) for d in found] == [
            (expected.digest, expected.artifact_type, expected.size)
        ]
        assert registry.stats.as_dict() == {"manifest": 1, "referrers": 1}
        assert await registry.referrers(ref, image.digest, artifact_type="other/type") == []
        nothing = await registry.referrers(
            lab.anonymous.ref(lab.corpus["oci-index"].reference), lab.corpus["oci-index"].digest
        )
        assert nothing == []


async def test_referrers_of_the_artifact_subject(lab: Lab) -> None:
    artifact = lab.corpus["artifact"]
    assert artifact.subject is not None
    async with provider(lab.token) as registry:
        repository = registry.repository(lab.token.ref(artifact.reference))
        found = await repository.referrers(artifact.subject, "application/spdx+json")
        assert [str(d.digest) for d in found] == [artifact.digest]
        assert found[0].artifact_type == "application/spdx+json"
        root = await repository.resolve()
        assert str(root.digest) == artifact.digest


# ── token registry ─────────────────────────────────────────────────────────────────────────────────


async def test_token_registry_request_counts(lab: Lab) -> None:
    first = lab.corpus["oci-single"]
    second = lab.corpus["docker-schema2"]
    lab.token_server.reset()
    async with provider(lab.token) as registry:
        await registry.resolve(lab.token.ref(first.reference))
        assert registry.stats.as_dict() == {"manifest": 2, "token": 1}  # 401, token, manifest
        registry.stats.reset()
        await registry.resolve(lab.token.ref(second.reference))
        assert registry.stats.as_dict() == {"manifest": 1, "token": 1}  # challenge remembered
        registry.stats.reset()
        await registry.resolve(lab.token.ref(first.reference.replace(":v1", ":latest")))
        assert registry.stats.as_dict() == {"manifest": 1}  # token cached
    records = lab.token_server.requests()
    assert [(r.method, r.grant_type, r.scopes) for r in records] == [
        ("GET", "anonymous", (f"repository:{first.repository}:pull",)),
        ("GET", "anonymous", (f"repository:{second.repository}:pull",)),
    ]


async def test_token_registry_corpus_anonymously(lab: Lab) -> None:
    image = lab.corpus["docker-list"]
    async with provider(lab.token) as registry:
        await check_image(registry, lab.token.ref(image.reference), image)


async def test_private_needs_credentials(lab: Lab) -> None:
    secret = lab.private["secret"]
    ref = lab.token.ref(secret.reference)
    async with provider(lab.token, credentials=True) as registry:
        await check_image(registry, ref, secret)
    async with provider(lab.token) as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.resolve(ref)
    assert "log in with --username/--password-stdin or a docker config.json" in str(caught.value)
    wrong = CredentialStore(Credentials(lab.username, "wrong-password"), env={}, use_files=False)
    async with RegistryProvider(credentials=wrong) as registry:
        with pytest.raises(AuthenticationError) as caught:
            await registry.resolve(ref)
    assert "refused the credentials" in str(caught.value)
    assert "wrong-password" not in str(caught.value)


async def test_an_expired_token_is_renewed_mid_walk(lab: Lab) -> None:
    image = lab.corpus["oci-index"]
    ref = lab.token.ref(image.reference)
    clock = FakeClock()
    with lab.token_server.expires_in(2):
        async with provider(lab.token, clock=clock) as registry:
            root = await registry.resolve(ref)
            await registry.fetch_manifest(ref, root)
            assert registry.stats.as_dict() == {"manifest": 2, "token": 1}
            clock.now += 3  # the token's 2 s are over
            registry.stats.reset()
            await registry.repository(ref).fetch(manifest_descriptor(image.default))
            assert registry.stats.as_dict() == {"manifest": 1, "token": 1}  # renewed, no 401


async def test_catalog_on_the_token_registry_needs_credentials(lab: Lab) -> None:
    async with provider(lab.token, credentials=True) as registry:
        names = await registry.catalog(lab.token.host)
    assert "private/secret" in names
    async with provider(lab.token) as registry:
        with pytest.raises(AuthenticationError):
            await registry.catalog(lab.token.host)


async def test_authorize_batches_tokens(lab: Lab) -> None:
    refs = [lab.token.ref(lab.corpus[name].reference) for name in IMAGES]
    lab.token_server.reset()
    async with provider(lab.token) as registry:
        await registry.authorize(refs)
        assert registry.stats.as_dict() == {"ping": 1, "token": 1}
        registry.stats.reset()
        for ref in refs:
            await registry.resolve(ref)
        assert registry.stats.as_dict() == {"manifest": len(refs)}
    (record,) = lab.token_server.requests()
    assert len(record.scopes) == len(IMAGES)


# ── basic auth over TLS ────────────────────────────────────────────────────────────────────────────


async def test_tls_registry_with_its_ca(lab: Lab) -> None:
    image = lab.corpus["oci-index"]
    async with provider(lab.tls, credentials=True) as registry:
        await check_image(registry, lab.tls.ref(image.reference), image)
        await check_image(
            registry, lab.tls.ref(lab.private["secret"].reference), lab.private["secret"]
        )


async def test_tls_registry_without_the_ca(lab: Lab) -> None:
    async with RegistryProvider(credentials=no_files()) as registry:
        with pytest.raises(NetworkError) as caught:
            await registry.resolve(lab.tls.ref(lab.corpus["oci-single"].reference))
    assert "certificate verify failed; pass --ca-file" in str(caught.value)


# ── credentials from files and helpers ─────────────────────────────────────────────────────────────


def _auth_entry(registry: LabRegistry) -> dict[str, str]:
    raw = f"{registry.username}:{registry.password}".encode()
    return {"auth": base64.b64encode(raw).decode()}


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME with no auth file around: each test adds its own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


async def test_credentials_from_docker_config(
    lab: Lab, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = isolated_env / "docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(
        json.dumps({"auths": {f"http://{lab.token.host}": _auth_entry(lab.token)}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    async with RegistryProvider() as registry:
        root = await registry.resolve(lab.token.ref(lab.private["secret"].reference))
    assert str(root.digest) == lab.private["secret"].digest


async def test_credentials_from_containers_auth_json(
    lab: Lab, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_file = isolated_env / "auth.json"
    auth_file.write_text(json.dumps({"auths": {f"{lab.tls.host}/private": _auth_entry(lab.tls)}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    async with RegistryProvider(ca_file=lab.tls.ca_file) as registry:
        root = await registry.resolve(lab.tls.ref(lab.private["secret"].reference))
    assert str(root.digest) == lab.private["secret"].digest


async def test_credentials_from_a_helper_on_path(
    lab: Lab, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-labtest"
    answer = json.dumps({"Username": lab.username, "Secret": lab.password})
    helper.write_text(
        f'#!/bin/sh\nread server\n[ "$server" = "{lab.token.host}" ] || exit 1\necho \'{answer}\'\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    docker_dir = isolated_env / ".docker"
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(
        json.dumps({"credHelpers": {lab.token.host: "labtest"}})
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    lab.token_server.reset()
    async with RegistryProvider() as registry:
        root = await registry.resolve(lab.token.ref(lab.private["secret"].reference))
    assert str(root.digest) == lab.private["secret"].digest
    assert [(r.grant_type, r.account) for r in lab.token_server.requests()] == [
        ("basic", lab.username)
    ]


async def test_plain_http_can_be_forced(lab: Lab) -> None:
    image = lab.corpus["oci-single"]
    async with RegistryProvider(credentials=no_files(), plain_http=[lab.anonymous.host]) as r:
        assert str((await r.resolve(lab.anonymous.ref(image.reference))).digest) == image.digest
    ref = Reference.parse(lab.anonymous.ref(image.reference))
    assert ref.is_loopback

"""Image answers against the registry lab (CNCF Distribution 2.8 on loopback), and offline.

For every corpus image, on the anonymous and the token registry: the root digest, the manifest
chosen for each platform, config digest, diff IDs, chain IDs, size and breakdown, the per-platform
table and the distinct total equal what the lab's builder says (``lab.corpus``). Request counts
are measured with ``RegistryProvider.stats``: no layer is ever requested. The same answers come
from an OCI layout written from the registry's documents, with no network at all.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread
import pytest

from regimage.content.oci_layout import REF_NAME_ANNOTATION, OCILayout
from regimage.errors import NotAnImage
from regimage.image.handlers import children
from regimage.image.image import Image
from regimage.image.walk import walk
from regimage.model.descriptor import Descriptor
from regimage.model.manifest import Manifest
from regimage.model.mediatypes import is_index, is_manifest
from regimage.model.platform import Platform
from regimage.model.platform_match import PlatformSpec
from regimage.registry.client import RegistryProvider
from tests.lab.corpus import corpus
from tests.lab.expected import ARTIFACT_KEY, ExpectedImage, ExpectedPlatform
from tests.lab.lab import Lab, LabRegistry

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

NAMES = sorted(corpus().images)
FLAVOURS = ["anonymous", "token"]

MakeImage = Callable[[PlatformSpec], Awaitable[Image]]


def provider_for(registry: LabRegistry) -> RegistryProvider:
    return RegistryProvider(plain_http=registry.plain_http, ca_file=registry.ca_file)


def key_of(platform: Platform | None) -> str:
    return ARTIFACT_KEY if platform is None else platform.format()


def offered_platforms(expected: ExpectedImage) -> list[str]:
    return [k for k, p in expected.platforms.items() if not p.attestation and k != ARTIFACT_KEY]


async def check_answers(make: MakeImage, expected: ExpectedImage) -> set[str]:
    """Assert every answer about ``expected``; return the digests of the configs it needed."""
    configs_read: set[str] = set()
    image = await make(None)
    assert str(image.target.digest) == expected.digest
    assert (image.target.media_type, image.target.size) == (expected.media_type, expected.size)

    # The default platform (what a linux/amd64 host picks) and every platform asked for by name.
    wanted: list[tuple[PlatformSpec, ExpectedPlatform]] = []
    if Platform.host().format() == "linux/amd64" and expected.default_platform is not None:
        wanted.append((None, expected.default))
    for key, platform in expected.platforms.items():
        if not platform.attestation and expected.is_index:
            wanted.append((key, platform))
    for spec, want in wanted:
        img = image if spec is None else image.with_platform(spec)
        selected = await img.manifest()
        assert str(selected.digest) == want.manifest_digest, spec
        assert [str(d.digest) for d in selected.index_path] == list(want.index_digests)
        size = await img.size()
        assert size.total == want.size
        assert {
            "index": size.index,
            "manifest": size.manifest,
            "config": size.config,
            "layers": size.layers,
        } == dict(want.breakdown)
        assert size.layer_count == want.layer_count
        assert [(str(x.digest), x.size) for x in selected.manifest.layers] == [
            (x.digest, x.size) for x in want.layers
        ]
        if want.platform == ARTIFACT_KEY:
            with pytest.raises(NotAnImage):
                await img.rootfs()
            continue
        config = await img.config()
        configs_read.add(want.config_digest)
        assert (str(config.digest), config.descriptor.size) == (
            want.config_digest,
            want.config_size,
        )
        assert [str(d) for d in await img.rootfs()] == list(want.diff_ids)
        assert [str(d) for d in await img.chain_ids()] == list(want.chain_ids)

    # The whole table: every manifest, the attestations flagged, the distinct total.
    table = await image.platform_sizes()
    by_digest = {p.manifest_digest: p for p in expected.platforms.values()}
    assert sorted(str(e.digest) for e in table.entries) == sorted(by_digest)
    for entry in table.entries:
        want = by_digest[str(entry.digest)]
        assert entry.attestation == want.attestation
        assert entry.size == want.size
        assert entry.breakdown.config + entry.breakdown.layers == (
            want.breakdown["config"] + want.breakdown["layers"]
        )
        if not entry.attestation:
            assert key_of(entry.platform) == want.platform
    assert table.distinct_size == expected.distinct_size
    assert sorted(str(e.digest) for e in table.attestations) == sorted(expected.attestation_digests)

    platforms = await image.platforms()
    assert sorted(p.format() for p in platforms) == sorted(offered_platforms(expected))
    return configs_read


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_corpus_answers(lab: Lab, flavour: str, name: str) -> None:
    registry, expected = lab.registry(flavour), lab.corpus[name]
    async with provider_for(registry) as provider:

        async def make(platform: PlatformSpec) -> Image:
            return await Image.resolve(
                registry.ref(expected.reference), provider, platform=platform
            )

        configs = await check_answers(make, expected)
        # Configs are the only blobs ever read, each once: a layer is never requested.
        assert provider.stats["blob"] == len(configs)
        assert len(configs) == (0 if name == "artifact" else len(offered_platforms(expected)))


async def _stats(registry: LabRegistry, reference: str, answer: str) -> dict[str, int]:
    async with provider_for(registry) as provider:
        image = await Image.resolve(registry.ref(reference), provider)
        await getattr(image, answer)()
        return provider.stats.as_dict()


@pytest.mark.parametrize(
    ("name", "answer", "anonymous", "token"),
    [
        # size of a single-platform tag reads the manifest only (the 401 is the token dance)
        ("oci-single", "size", {"manifest": 1}, {"manifest": 2, "token": 1}),
        ("docker-schema2", "size", {"manifest": 1}, {"manifest": 2, "token": 1}),
        ("many-layers", "size", {"manifest": 1}, {"manifest": 2, "token": 1}),
        # rootfs reads the manifest and the config
        (
            "oci-single",
            "rootfs",
            {"manifest": 1, "blob": 1},
            {"manifest": 2, "blob": 1, "token": 1},
        ),
        (
            "many-layers",
            "rootfs",
            {"manifest": 1, "blob": 1},
            {"manifest": 2, "blob": 1, "token": 1},
        ),
        # an index: the index, then the chosen manifest (and the config for rootfs)
        ("oci-index", "size", {"manifest": 2}, {"manifest": 3, "token": 1}),
        ("oci-index", "rootfs", {"manifest": 2, "blob": 1}, {"manifest": 3, "blob": 1, "token": 1}),
        ("attested", "size", {"manifest": 2}, {"manifest": 3, "token": 1}),
        ("nested", "size", {"manifest": 3}, {"manifest": 4, "token": 1}),
        # every index and manifest, no config, no layer
        ("oci-index", "platform_sizes", {"manifest": 6}, {"manifest": 7, "token": 1}),
        ("attested", "platform_sizes", {"manifest": 5}, {"manifest": 6, "token": 1}),
        ("oci-index", "platforms", {"manifest": 1}, {"manifest": 2, "token": 1}),
        # entries without a platform: their configs tell
        (
            "index-no-platform",
            "platforms",
            {"manifest": 3, "blob": 2},
            {"manifest": 4, "blob": 2, "token": 1},
        ),
    ],
)
async def test_request_counts(
    lab: Lab, name: str, answer: str, anonymous: dict[str, int], token: dict[str, int]
) -> None:
    if Platform.host().format() != "linux/amd64" and answer in ("size", "rootfs"):
        pytest.skip("the counts assume a linux/amd64 host")
    reference = lab.corpus[name].reference
    assert await _stats(lab.anonymous, reference, answer) == anonymous
    assert await _stats(lab.token, reference, answer) == token


async def test_referrers_through_the_fallback_tag(lab: Lab) -> None:
    expected = lab.corpus["oci-single"]
    async with provider_for(lab.anonymous) as provider:
        image = await Image.resolve(lab.anonymous.ref(expected.reference), provider)
        found = await image.referrers()
    assert [(str(d.digest), d.size, d.artifact_type) for d in found] == [
        (r.digest, r.size, r.artifact_type) for r in expected.referrers
    ]


# ── offline: an OCI layout written from the registry's documents ─────────────────────────────────


async def _write_layout(lab: Lab, directory: Path) -> None:
    """Copy every corpus index, manifest and config (never a layer) into an OCI layout."""
    registry = lab.anonymous
    entries: list[Descriptor] = []
    blobs: dict[str, bytes] = {}
    configs: set[tuple[str, str]] = set()  # (repository, digest): the only blobs requested
    async with provider_for(registry) as provider:
        for name in NAMES:
            expected = lab.corpus[name]
            image = await Image.resolve(registry.ref(expected.reference), provider)
            repository = image.provider
            handler = children(repository)
            for visit in await walk(handler, image.target):
                descriptor = visit.descriptor
                if is_index(descriptor.media_type) or is_manifest(descriptor.media_type):
                    blobs[str(descriptor.digest)] = await repository.fetch(descriptor)
                    document = await handler.document(descriptor)
                    if isinstance(document, Manifest):
                        blobs[str(document.config.digest)] = await repository.fetch(document.config)
                        configs.add((expected.repository, str(document.config.digest)))
            entries.append(
                Descriptor(
                    image.target.media_type,
                    image.target.digest,
                    image.target.size,
                    annotations={REF_NAME_ANNOTATION: name},
                )
            )
        assert provider.stats["blob"] == len(configs)
    await anyio.to_thread.run_sync(_write_files, directory, entries, blobs)


def _write_files(directory: Path, entries: list[Descriptor], blobs: dict[str, bytes]) -> None:
    directory.mkdir()
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [e.to_dict() for e in entries]}
    (directory / "index.json").write_text(json.dumps(index))
    for digest, data in blobs.items():
        algorithm, encoded = digest.split(":")
        (directory / "blobs" / algorithm).mkdir(parents=True, exist_ok=True)
        (directory / "blobs" / algorithm / encoded).write_bytes(data)


async def test_an_oci_layout_answers_identically_offline(lab: Lab, tmp_path: Path) -> None:
    directory = tmp_path / "corpus-layout"
    await _write_layout(lab, directory)
    layout = OCILayout(directory)
    assert await layout.tags() == NAMES
    for name in NAMES:
        expected = lab.corpus[name]

        async def make(platform: PlatformSpec, name: str = name) -> Image:
            target = await layout.resolve(name)
            image = Image(f"oci:{directory}:{name}", target, layout)
            return image if platform is None else image.with_platform(platform)

        await check_answers(make, expected)

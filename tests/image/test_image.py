"""Image answers (manifest, config, rootfs, size, per-platform sizes, platforms) over memory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import (
    InvalidDocument,
    NoMatchingPlatform,
    NotAnImage,
    NotFound,
    RegImageError,
    RootFSMismatch,
    UnsupportedMediaType,
)
from regimage.image.answers import ImageSize, PlatformSizes
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import chain_ids
from regimage.model.mediatypes import DOCKER_SCHEMA1_MANIFEST, OCI_INDEX
from regimage.model.platform import Platform
from regimage.model.platform_match import PlatformSpec, all_platforms, only_os, ordered
from regimage.model.reference import Reference
from tests.image.builders import (
    add_artifact,
    add_attestation,
    add_image,
    add_index,
    dumps,
    fake_layer,
)

pytestmark = pytest.mark.anyio

HOST = str(Platform.host())
OTHER = "linux/s390x" if HOST != "linux/s390x" else "linux/ppc64le"


@pytest.fixture
def store() -> MemoryProvider:
    return MemoryProvider()


def image(store: MemoryProvider, target: Descriptor, platform: PlatformSpec = None) -> Image:
    img = Image("example.com/app:1", target, store)
    return img if platform is None else img.with_platform(platform)


# ── single manifest ────────────────────────────────────────────────────────────────────────────────


async def test_size_of_a_single_manifest_reads_only_the_manifest(store: MemoryProvider) -> None:
    layers = [fake_layer("a", 1000), fake_layer("b", 234)]
    manifest = add_image(store, "linux/arm64", layers, declare=False)
    config = len(await store.fetch((await image(store, manifest).manifest()).manifest.config))
    store.fetched.clear()
    size = await image(store, manifest).size()
    assert store.fetched == [manifest.digest]
    assert size == ImageSize(
        total=manifest.size + config + 1234,
        index=0,
        manifest=manifest.size,
        config=config,
        layers=1234,
        layer_count=2,
        platform=None,
        manifest_digest=manifest.digest,
        warnings=(),
    )


async def test_rootfs_reads_manifest_and_config(store: MemoryProvider) -> None:
    diff_ids = [Digest.of(b"d1"), Digest.of(b"d2")]
    manifest = add_image(
        store, "linux/amd64", [fake_layer("a"), fake_layer("b")], diff_ids=diff_ids
    )
    img = image(store, manifest)
    assert await img.rootfs() == tuple(diff_ids)
    config = (await img.manifest()).manifest.config
    assert store.fetched == [manifest.digest, config.digest]
    assert await img.chain_ids() == chain_ids(diff_ids)
    assert (await img.config()).descriptor == config
    assert len(store.fetched) == 2  # the image's cache answered the rest


async def test_a_single_manifest_is_selected_whatever_the_host(store: MemoryProvider) -> None:
    manifest = add_image(store, OTHER, [fake_layer("a")], declare=False)
    selected = await image(store, manifest).manifest()
    assert selected.descriptor == manifest
    assert selected.index_path == ()
    assert store.fetched == [manifest.digest]


async def test_an_explicit_platform_is_checked_on_a_single_manifest(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/arm64", [fake_layer("a")], declare=False)
    selected = await image(store, manifest, "linux/arm64").manifest()
    assert selected.platform == Platform("linux", "arm64")
    with pytest.raises(NoMatchingPlatform) as caught:
        await image(store, manifest, "linux/amd64").manifest()
    assert str(caught.value) == (
        "example.com/app:1 is a single-platform image for linux/arm64, not for linux/amd64"
    )
    assert caught.value.available == ("linux/arm64",)


async def test_size_check_reads_the_config_and_warns(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/amd64", [fake_layer("a")], diff_ids=[], declare=False)
    size = await image(store, manifest).size(check=True)
    assert size.warnings == ("the config lists 0 diff IDs for 1 layers in the manifest",)
    assert len(store.fetched) == 2


@pytest.mark.parametrize(
    ("layers", "diff_ids"),
    [(2, 1), (1, 2), (3, 0), (0, 1)],
    ids=["fewer", "more", "none", "no-layers"],
)
async def test_rootfs_refuses_a_config_that_disagrees_with_the_layers(
    store: MemoryProvider, layers: int, diff_ids: int
) -> None:
    # containerd refuses to unpack such an image ("mismatched image rootfs and manifest layers"):
    # a short or padded diff ID list would pair the wrong layers and give chain IDs of nothing.
    manifest = add_image(
        store,
        "linux/amd64",
        [fake_layer(str(i)) for i in range(layers)],
        diff_ids=[Digest.of(b"diff %d" % i) for i in range(diff_ids)],
    )
    img = image(store, manifest)
    for answer in (img.rootfs, img.chain_ids):
        with pytest.raises(RootFSMismatch) as caught:
            await answer()
        assert isinstance(caught.value, InvalidDocument)  # exit 7
        assert (caught.value.layers, caught.value.diff_ids) == (layers, diff_ids)
        assert str(caught.value) == (
            f"example.com/app:1 is not a usable image: its config lists {diff_ids} diff IDs for "
            f"the {layers} layers of its manifest {manifest.digest} (containerd refuses to "
            "unpack it)"
        )
    # What does not pair layers with diff IDs still answers: size, and the config as it is.
    assert (await img.size()).layer_count == layers
    assert len((await img.config()).config.diff_ids) == diff_ids


async def test_size_check_warns_when_index_and_config_disagree(store: MemoryProvider) -> None:
    liar = replace(
        add_image(store, "linux/arm64", [fake_layer("a")]), platform=Platform.parse(HOST)
    )
    root = add_index(store, [liar])
    size = await image(store, root).size(check=True)
    assert size.warnings == (f"the index entry says {HOST} but the config says linux/arm64",)
    assert (await image(store, root).size()).warnings == ()


async def test_a_duplicated_layer_counts_twice(store: MemoryProvider) -> None:
    layer = fake_layer("same", 500)
    manifest = add_image(store, "linux/amd64", [layer, layer])
    size = await image(store, manifest).size()
    assert (size.layers, size.layer_count) == (1000, 2)
    sizes = await image(store, manifest).platform_sizes()
    assert sizes.distinct_size == size.total - 500


# ── indexes ────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def multi(store: MemoryProvider) -> dict[str, Descriptor]:
    shared = fake_layer("base", 5000)
    made = {
        HOST: add_image(store, HOST, [shared, fake_layer("host", 100)]),
        "linux/arm/v7": add_image(store, "linux/arm/v7", [shared, fake_layer("v7", 200)]),
        "linux/arm64": add_image(store, "linux/arm64/v8", [shared, fake_layer("arm64", 300)]),
    }
    made["attestation"] = add_attestation(store, made[HOST])
    made["root"] = add_index(
        store, [made["attestation"], made[HOST], made["linux/arm/v7"], made["linux/arm64"]]
    )
    return made


async def test_the_host_platform_is_selected_by_default(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    selected = await image(store, multi["root"]).manifest()
    assert selected.descriptor == multi[HOST]
    assert selected.index_path == (multi["root"],)
    assert selected.platform == Platform.parse(HOST)
    assert store.fetched == [multi["root"].digest, multi[HOST].digest]


async def test_size_of_an_index_adds_the_index_bytes(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    img = image(store, multi["root"], "linux/arm64")
    size = await img.size()
    selected = await img.manifest()
    config = selected.manifest.config.size
    assert size.index == multi["root"].size
    assert size.manifest == multi["linux/arm64"].size
    assert size.layers == 5300
    assert size.total == multi["root"].size + multi["linux/arm64"].size + config + 5300
    assert size.platform == Platform("linux", "arm64", "v8")
    assert size.manifest_digest == multi["linux/arm64"].digest
    assert len(store.fetched) == 2  # index, manifest: never the config


async def test_arm64_falls_back_to_arm_v7_only_when_alone(store: MemoryProvider) -> None:
    v7 = add_image(store, "linux/arm/v7", [fake_layer("v7")])
    root = add_index(store, [add_image(store, "linux/amd64", [fake_layer("a")]), v7])
    selected = await image(store, root, "linux/arm64").manifest()
    assert selected.descriptor == v7


async def test_attestations_are_never_selected(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    lone = add_index(store, [multi["attestation"]])
    with pytest.raises(NoMatchingPlatform, match="it offers no platform"):
        await image(store, lone).with_platform(all_platforms()).manifest()
    selected = await image(store, multi["root"]).with_platform(all_platforms()).manifest()
    assert selected.descriptor == multi[HOST]


async def test_no_matching_platform_lists_what_is_offered(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    with pytest.raises(NoMatchingPlatform) as caught:
        await image(store, multi["root"], "windows/amd64").manifest()
    assert caught.value.available == (HOST, "linux/arm/v7", "linux/arm64/v8")
    assert str(caught.value) == (
        f"example.com/app:1 has no manifest for windows/amd64; it offers {HOST}, linux/arm/v7, "
        "linux/arm64/v8"
    )
    assert caught.value.reference == "example.com/app:1"


async def test_an_entry_without_platform_is_matched_by_its_config(store: MemoryProvider) -> None:
    bare_arm = add_image(store, "linux/arm64", [fake_layer("arm")], declare=False)
    bare_other = add_image(store, OTHER, [fake_layer("other")], declare=False)
    root = add_index(store, [bare_other, bare_arm])
    selected = await image(store, root, "linux/arm64").manifest()
    assert selected.descriptor.digest == bare_arm.digest
    assert selected.platform == Platform("linux", "arm64")
    assert await image(store, root).platforms() == [
        Platform.parse(OTHER),
        Platform("linux", "arm64"),
    ]


async def test_nested_indexes_are_searched_and_all_count_in_size(store: MemoryProvider) -> None:
    arm = add_image(store, "linux/arm64", [fake_layer("arm", 10)])
    inner = add_index(store, [add_image(store, OTHER, [fake_layer("o")]), arm])
    root = add_index(store, [add_image(store, "linux/arm/v7", [fake_layer("v7")]), inner])
    img = image(store, root, "linux/arm64")
    selected = await img.manifest()
    assert selected.descriptor == arm
    assert selected.index_path == (root, inner)
    assert (await img.size()).index == root.size + inner.size


async def test_a_docker_list_and_its_preference_order(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    i386 = add_image(store, "linux/386", [fake_layer("b")])
    root = add_index(
        store, [i386, amd], media_type="application/vnd.docker.distribution.manifest.list.v2+json"
    )
    assert (await image(store, root, "linux/amd64").manifest()).descriptor == amd
    assert (
        await image(store, root, ordered(Platform.parse("linux/386"))).manifest()
    ).descriptor == i386
    assert (await image(store, root, only_os("linux")).manifest()).descriptor in (amd, i386)


# ── artifacts and legacy ───────────────────────────────────────────────────────────────────────────


async def test_an_artifact_has_a_size_but_no_config(store: MemoryProvider) -> None:
    blob = fake_layer("sbom", 321)
    artifact = add_artifact(
        store, "application/spdx+json", [replace(blob, media_type="application/spdx+json")]
    )
    img = image(store, artifact)
    size = await img.size()
    assert size.total == artifact.size + 2 + 321
    assert size.config == 2
    for call in (img.config, img.rootfs, img.chain_ids):
        with pytest.raises(NotAnImage) as caught:
            await call()
        assert "is an OCI artifact of type 'application/spdx+json', not an image" in str(
            caught.value
        )
    assert await img.platforms() == []
    assert (await img.size(check=True)).warnings == ()


async def test_a_config_typed_artifact_is_not_an_image(store: MemoryProvider) -> None:
    helm = store.add_document(b'{"name":"chart"}', "application/vnd.cncf.helm.config.v1+json")
    manifest = store.add_document(
        dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": helm.to_dict(),
                "layers": [],
            }
        ),
        "application/vnd.oci.image.manifest.v1+json",
    )
    with pytest.raises(NotAnImage, match=r"'application/vnd\.cncf\.helm\.config\.v1\+json'"):
        await image(store, manifest).rootfs()


async def test_schema1_is_refused_with_advice(store: MemoryProvider) -> None:
    legacy = Descriptor(DOCKER_SCHEMA1_MANIFEST, Digest.of(b"schema1"), 100)
    with pytest.raises(UnsupportedMediaType, match="legacy Docker schema1 manifest") as caught:
        await image(store, legacy).size()
    assert "skopeo copy --format v2s2" in str(caught.value)
    assert store.fetched == []


async def test_a_missing_manifest_is_not_found(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    ghost = Descriptor(OCI_INDEX, Digest.of(b"ghost"), 10)
    with pytest.raises(NotFound):
        await image(store, ghost).manifest()


# ── all platforms ──────────────────────────────────────────────────────────────────────────────────


async def test_platform_sizes_distinct_and_attestations(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    img = image(store, multi["root"])
    sizes = await img.platform_sizes()
    assert isinstance(sizes, PlatformSizes)
    assert [str(e.platform) for e in sizes.platforms] == [HOST, "linux/arm/v7", "linux/arm64/v8"]
    assert [e.attestation for e in sizes.entries] == [True, False, False, False]
    for entry in sizes.platforms:
        alone = await img.with_platform(entry.platform).size()
        assert entry.breakdown == alone
        assert entry.size == alone.total
        assert entry.digest == alone.manifest_digest
    root = multi["root"].size
    configs = sum(e.breakdown.config for e in sizes.platforms)
    manifests = sum(multi[k].size for k in (HOST, "linux/arm/v7", "linux/arm64"))
    attestation = sizes.attestations[0]
    assert attestation.platform == Platform("unknown", "unknown")
    assert (
        sizes.attestation_size
        == attestation.breakdown.manifest + attestation.breakdown.config + 700
    )
    assert sizes.distinct_size == (
        root + manifests + configs + 5000 + 100 + 200 + 300 + sizes.attestation_size
    )


async def test_platform_sizes_reads_no_config_and_no_layer(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    await image(store, multi["root"]).platform_sizes()
    assert sorted(map(str, store.fetched)) == sorted(
        str(multi[k].digest) for k in ("root", "attestation", HOST, "linux/arm/v7", "linux/arm64")
    )


async def test_platform_sizes_of_a_single_manifest(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/arm64", [fake_layer("a", 7)], declare=False)
    sizes = await image(store, manifest).platform_sizes()
    assert len(sizes.entries) == 1
    assert sizes.entries[0].platform == Platform("linux", "arm64")
    assert sizes.distinct_size == sizes.entries[0].size
    assert sizes.attestation_size == 0


async def test_platforms_of_an_index_skip_attestations(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    platforms = await image(store, multi["root"]).platforms()
    assert [str(p) for p in platforms] == [HOST, "linux/arm/v7", "linux/arm64/v8"]
    assert store.fetched == [multi["root"].digest]


async def test_platforms_of_a_single_manifest_read_its_config(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/arm/v7", [fake_layer("a")], declare=False)
    assert await image(store, manifest).platforms() == [Platform("linux", "arm", "v7")]
    assert len(store.fetched) == 2


# ── the Image value ────────────────────────────────────────────────────────────────────────────────


async def test_resolve_through_a_resolver(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    store.tag("1.4", manifest)
    img = await Image.resolve("ghcr.io/acme/api:1.4", store, platform="linux/amd64")
    assert img.name == "ghcr.io/acme/api:1.4"
    assert img.target == manifest
    assert img.provider is store
    by_digest = await Image.resolve(Reference.parse(f"ghcr.io/acme/api@{manifest.digest}"), store)
    assert by_digest.target.digest == manifest.digest
    assert by_digest.matcher is None
    with pytest.raises(NotFound, match=r"'2\.0'"):
        await Image.resolve("ghcr.io/acme/api:2.0", store)


def test_image_value_semantics(store: MemoryProvider) -> None:
    target = add_image(store, "linux/amd64", [fake_layer("a")])
    a = Image("x:1", target, store)
    b = Image("x:1", target, MemoryProvider())
    assert a == b  # the provider and the cache take no part
    assert repr(a) == f"<Image('x:1', {target.digest})>"
    arm = a.with_platform("linux/arm64")
    assert repr(arm) == f"<Image('x:1', {target.digest}, platform='linux/arm64')>"
    assert arm.cache is a.cache
    assert a.effective_matcher.match(Platform.host())
    assert a.with_platform(None).matcher is None


async def test_referrers(store: MemoryProvider) -> None:
    subject = add_image(store, "linux/amd64", [fake_layer("a")])
    sbom = add_artifact(store, "application/spdx+json", [fake_layer("s")], subject=subject)
    sig = add_artifact(store, "application/vnd.dev.cosign", [fake_layer("c")], subject=subject)
    img = image(store, subject)
    found = await img.referrers()
    assert [(d.digest, d.artifact_type) for d in found] == [
        (sbom.digest, "application/spdx+json"),
        (sig.digest, "application/vnd.dev.cosign"),
    ]
    assert [d.digest for d in await img.referrers("application/spdx+json")] == [sbom.digest]


async def test_referrers_need_a_provider_that_lists_them(store: MemoryProvider) -> None:
    class Plain:
        async def fetch(self, descriptor: Descriptor) -> bytes:
            return await store.fetch(descriptor)

    target = add_image(store, "linux/amd64", [fake_layer("a")])
    with pytest.raises(RegImageError, match="Plain does not support the referrers API"):
        await Image("x:1", target, Plain()).referrers()


async def test_a_root_of_generic_type_is_read_as_its_json_says(
    store: MemoryProvider, multi: dict[str, Descriptor]
) -> None:
    generic = replace(multi["root"], media_type="application/json")
    img = image(store, generic, "linux/arm/v7")
    selected = await img.manifest()
    assert selected.descriptor == multi["linux/arm/v7"]
    assert selected.index_path == (replace(generic, media_type=OCI_INDEX),)
    assert len((await img.platform_sizes()).entries) == 4
    assert store.fetched.count(multi["root"].digest) == 1

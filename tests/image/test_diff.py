"""diff and diff_platforms over the lab's family of images, in memory: layers shared, added,
removed and recompressed, the download, the common base, the size and config changes."""

from __future__ import annotations

import pytest

from regimage.image.diff import diff, diff_platforms
from regimage.model.config_diff import FieldChange, MappingDiff
from regimage.model.digest import Digest
from tests.image.lab_memory import memory_of
from tests.lab.corpus import corpus
from tests.lab.expected import ExpectedPlatform

pytestmark = pytest.mark.anyio


def expected(name: str, platform: str = "linux/amd64") -> ExpectedPlatform:
    return corpus().images[name].platforms[platform]


def digests(layers: object) -> list[str]:
    return [str(x.digest) for x in layers]  # type: ignore[attr-defined]


async def test_an_image_on_top_of_its_base() -> None:
    (base_memory, base), (app_memory, app) = memory_of("family-base"), memory_of("family-app")
    found = await diff(base, app)
    old, new = expected("family-base"), expected("family-app")
    assert digests(found.shared) == [x.digest for x in old.layers]
    assert digests(found.added) == [new.layers[2].digest]
    assert (found.removed, found.recompressed) == ((), ())
    assert found.download == new.layers[2].size + new.config_size
    assert found.download_blobs == 2
    assert found.base_layers == 2
    assert str(found.base_chain_id) == old.chain_ids[-1]
    assert found.size_change == new.size - old.size
    assert not found.same_manifest
    assert str(found.before.manifest.digest) == old.manifest_digest
    assert str(found.after.config.digest) == new.config_digest
    assert found.config.fields == (
        FieldChange("entrypoint", None, ("/usr/bin/family-app",)),
        FieldChange("cmd", ("/bin/sh",), ("--serve",)),
        FieldChange("user", None, "app"),
        FieldChange("workingDir", "/", "/srv"),
    )
    assert found.config.env == MappingDiff(
        {"APP_MODE": "production", "APP_DEBUG": "0"},
        {},
        {"PATH": ("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/usr/bin:/bin")},
    )
    assert found.config.labels == MappingDiff({}, {}, {"lab.version": ("base", "1")})
    assert (found.config.ports_added, found.config.ports_removed) == (("8080/tcp",), ())
    # manifests and configs only: no layer read
    layer_digests = {Digest.parse(x.digest) for x in new.layers}
    assert not layer_digests & {*base_memory.fetched, *app_memory.fetched}
    assert base_memory.ranges == app_memory.ranges == []


async def test_a_new_version_replaces_the_top() -> None:
    (_, app), (_, v2) = memory_of("family-app"), memory_of("family-app-v2")
    found = await diff(app, v2)
    old, new = expected("family-app"), expected("family-app-v2")
    assert digests(found.shared) == [x.digest for x in new.layers[:2]]
    assert digests(found.added) == [x.digest for x in new.layers[2:]]
    assert digests(found.removed) == [old.layers[2].digest]
    assert found.download == sum(x.size for x in new.layers[2:]) + new.config_size
    assert found.base_layers == 2
    assert [f.name for f in found.config.fields] == ["entrypoint", "user", "workingDir", "created"]
    assert found.config.env == MappingDiff(
        {"APP_CACHE": "/var/cache/app"}, {"APP_DEBUG": "0"}, {"APP_MODE": ("production", "staging")}
    )
    assert (found.config.ports_added, found.config.ports_removed) == (("9090/tcp",), ())
    # and back: what was added is removed
    back = await diff(v2, app)
    assert digests(back.removed) == digests(found.added)
    assert back.size_change == -found.size_change


async def test_the_same_tars_in_another_compression_are_recompressed() -> None:
    (_, gz), (_, zst) = memory_of("family-app"), memory_of("family-app-zstd")
    found = await diff(gz, zst)
    old, new = expected("family-app"), expected("family-app-zstd")
    assert (found.shared, found.added, found.removed) == ((), (), ())
    assert [(str(a.digest), str(b.digest)) for a, b in found.recompressed] == [
        (x.digest, y.digest) for x, y in zip(old.layers, new.layers, strict=True)
    ]
    assert all(a.diff_id == b.diff_id for a, b in found.recompressed)
    assert found.base_layers == 3  # the same filesystem, by chain ID
    assert str(found.base_chain_id) == old.chain_ids[-1] == new.chain_ids[-1]
    assert old.config_digest == new.config_digest  # the config names diff IDs only
    assert found.download == sum(x.size for x in new.layers)
    assert not found.config


async def test_an_index_and_its_own_manifest_are_the_same() -> None:
    (_, index), (_, single) = memory_of("family-index"), memory_of("family-app")
    found = await diff(index.with_platform("linux/amd64"), single)
    assert found.same_manifest
    assert (found.added, found.removed, found.download, found.base_layers) == ((), (), 0, 3)
    # the size differs by the index bytes on the path
    assert found.size_change == -corpus().images["family-index"].size


async def test_every_platform_of_two_indexes() -> None:
    (_, v1), (_, v2) = memory_of("family-index"), memory_of("family-index-v2")
    found = await diff_platforms(v1, v2)
    assert [str(p) for p in found.only_before] == ["linux/arm/v7"]
    assert [str(p) for p in found.only_after] == ["linux/s390x"]
    assert [str(d.after.platform) for d in found.diffs] == ["linux/amd64", "linux/arm64"]
    for one in found.diffs:
        key = str(one.after.platform)
        old, new = expected("family-index", key), expected("family-index-v2", key)
        assert str(one.before.manifest.digest) == old.manifest_digest
        assert str(one.after.manifest.digest) == new.manifest_digest
        assert digests(one.removed) == [old.layers[2].digest]
        assert one.base_layers == 2


async def test_a_single_manifest_against_an_index_pairs_its_platform() -> None:
    (_, single), (_, index) = memory_of("family-app-v2"), memory_of("family-index")
    found = await diff_platforms(single, index)
    assert [str(p) for p in found.only_after] == ["linux/arm64", "linux/arm/v7"]
    assert found.only_before == ()
    [one] = found.diffs
    assert str(one.after.manifest.digest) == expected("family-app").manifest_digest


async def test_a_layer_under_another_media_type_is_the_same_layer() -> None:
    (_, oci), (_, docker) = memory_of("zstd"), memory_of("docker-schema2")
    found = await diff(oci, docker)  # the lab's base layer, as OCI gzip and as Docker layer
    assert digests(found.shared) == [expected("zstd").layers[0].digest]
    assert found.base_layers == 1
    assert found.download == sum(x.size for x in expected("docker-schema2").layers[1:]) + (
        expected("docker-schema2").config_size
    )


async def test_images_with_nothing_in_common() -> None:
    (_, windows), (_, app) = memory_of("oci-index"), memory_of("family-app")
    spec = "windows/amd64"
    found = await diff(windows.with_platform(spec), app)
    assert (found.shared, found.base_layers, found.base_chain_id) == ((), 0, None)
    assert len(found.added) == 3
    assert len(found.removed) == 2
    assert found.config.fields[-1] == FieldChange("platform", "windows/amd64", "linux/amd64")

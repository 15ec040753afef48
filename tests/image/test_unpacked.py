"""Image.unpacked_size over in-memory providers: the lab's real layers (gzip, zstd, several
members and frames, uncompressed), what is read of them, and what is never read."""

from __future__ import annotations

import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import NotAnImage
from regimage.image.answers import SelectedManifest
from regimage.image.document_cache import DocumentCache
from regimage.image.image import Image
from regimage.image.unpacked import unpacked_size
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.layer_size import ESTIMATE, EXACT, UNKNOWN, UNTRUSTED
from regimage.model.manifest import Manifest
from tests.image.lab_memory import memory_of
from tests.lab import builder as b
from tests.lab.corpus import corpus

pytestmark = pytest.mark.anyio


class FetchOnly:
    """A Provider that cannot read part of a blob."""

    def __init__(self, memory: MemoryProvider) -> None:
        self.memory = memory

    async def fetch(self, descriptor: Descriptor) -> bytes:
        return await self.memory.fetch(descriptor)


@pytest.mark.parametrize("name", ["zstd", "oci-single", "docker-schema2", "many-layers"])
async def test_estimates_are_the_true_tar_sizes(name: str) -> None:
    expected = corpus().images[name].default
    memory, image = memory_of(name)
    result = await image.unpacked_size()
    assert [layer.unpacked for layer in result.layers] == [x.unpacked_size for x in expected.layers]
    assert {layer.status for layer in result.layers} == {ESTIMATE}
    assert result.total == sum(x.unpacked_size or 0 for x in expected.layers)
    assert result.compressed == expected.breakdown["layers"]
    assert (result.complete, result.exact, result.unknown, result.untrusted) == (
        True,
        False,
        0,
        0,
    )
    assert str(result.manifest_digest) == expected.manifest_digest
    assert memory.fetched.count(Digest.parse(expected.layers[0].digest)) == 0  # no layer read


async def test_one_small_read_per_layer() -> None:
    memory, image = memory_of("zstd")
    layers = corpus().images["zstd"].default.layers
    await image.unpacked_size()
    reads: dict[str, list[ByteRange]] = {str(digest): [] for digest, _ in memory.ranges}
    for digest, byte_range in memory.ranges:
        reads[str(digest)].append(byte_range)
    assert reads == {
        layers[0].digest: [ByteRange.last(4)],  # gzip: ISIZE
        layers[1].digest: [ByteRange.first(64)],  # zstd: the frame header
        layers[2].digest: [ByteRange.first(64)],
        # a skippable frame of 8 + 176 bytes first: read again where the frame starts
        layers[3].digest: [ByteRange.first(64), ByteRange.first(64, start=184)],
    }


async def test_what_cannot_be_trusted_or_read_is_said_and_left_out_of_the_total() -> None:
    expected = corpus().images["unpacked-estimates"].default.layers
    _, image = memory_of("unpacked-estimates")
    result = await image.unpacked_size()
    statuses = [(layer.status, layer.method) for layer in result.layers]
    assert statuses == [
        (ESTIMATE, "gzip-isize"),
        (UNTRUSTED, "gzip-isize"),  # three gzip members: ISIZE is the last one's
        (UNKNOWN, "zstd-frame-content-size"),  # no Frame_Content_Size
        (UNTRUSTED, "zstd-frame-content-size"),  # two frames: the first one's size only
        (EXACT, "size"),  # an uncompressed tar
    ]
    assert result.layers[0].unpacked == expected[0].unpacked_size
    assert result.layers[4].unpacked == expected[4].unpacked_size
    assert result.layers[1].unpacked != expected[1].unpacked_size
    assert "512-byte tar blocks" in result.layers[1].note
    assert "does not state its content size" in result.layers[2].note
    assert "more frames" in result.layers[3].note
    assert result.total == (expected[0].unpacked_size or 0) + (expected[4].unpacked_size or 0)
    assert (result.complete, result.unknown, result.untrusted) == (False, 1, 2)


async def test_a_layer_listed_twice_is_read_once_and_counted_twice() -> None:
    memory, image = memory_of("dup-layer")
    expected = corpus().images["dup-layer"].default.layers
    result = await image.unpacked_size()
    assert len(memory.ranges) == 2
    assert result.total == sum(x.unpacked_size or 0 for x in expected)
    assert result.layers[0] == result.layers[2]


async def test_sizes_are_kept_by_digest_for_the_images_that_share_the_cache() -> None:
    memory, image = memory_of("oci-index")
    amd64 = await image.with_platform("linux/amd64").unpacked_size()
    reads = len(memory.ranges)
    assert reads == 3
    arm64 = await image.with_platform("linux/arm64").unpacked_size()
    # the docs layer is the same on every platform: only the other two are read
    assert len(memory.ranges) == reads + 2
    assert amd64.layers[1] == arm64.layers[1]
    await image.with_platform("linux/arm64").unpacked_size()
    assert len(memory.ranges) == reads + 2


async def test_a_provider_that_cannot_read_ranges_gives_unknown_never_a_download() -> None:
    memory, image = memory_of("oci-single")
    plain = Image(image.name, image.target, FetchOnly(memory), None)
    result = await plain.unpacked_size()
    assert {layer.status for layer in result.layers} == {UNKNOWN}
    assert all("FetchOnly cannot read part of a blob" in x.note for x in result.layers)
    assert (result.total, result.unknown) == (0, 3)
    layer_digests = {layer.digest for layer in result.layers}
    assert not layer_digests & set(memory.fetched)


async def test_a_layer_the_provider_does_not_have_is_unknown() -> None:
    _, image = memory_of("oci-single", layers=False)
    result = await image.unpacked_size()
    assert {layer.status for layer in result.layers} == {UNKNOWN}
    assert "not there" in result.layers[0].note


async def test_an_uncompressed_image_reads_nothing() -> None:
    memory, image = memory_of("uncompressed")
    result = await image.unpacked_size()
    assert [layer.status for layer in result.layers] == [ESTIMATE, EXACT]
    assert len(memory.ranges) == 1  # the gzip layer only


async def test_an_artifact_has_no_unpacked_size() -> None:
    _, image = memory_of("artifact")
    with pytest.raises(NotAnImage, match="not an image: its layers are not unpacked"):
        await image.unpacked_size()


async def test_embedded_layer_data_is_read_in_place() -> None:
    layer = b.layer([("etc/x", b"x\n")])
    config = Descriptor(b.OCI_CONFIG, Digest.of(b"{}"), 2)
    descriptor = Descriptor(
        layer.blob.media_type,
        Digest.parse(layer.blob.digest),
        layer.blob.size,
        data=layer.blob.data,
    )
    selected = SelectedManifest(config, Manifest(b.OCI_MANIFEST, config, (descriptor,)), None)
    memory = MemoryProvider()
    result = await unpacked_size(memory, selected, DocumentCache().layer_sizes, name="x")
    assert result.layers[0].unpacked == layer.unpacked_size
    assert memory.ranges == []

"""RangeReader over content stores: an OCI layout reads part of a blob file, MemoryProvider slices
what it holds; an Image over a layout gives its unpacked size offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from regimage.content.oci_layout import OCILayout
from regimage.content.provider import MemoryProvider, RangeReader
from regimage.errors import NotFound, SizeMismatch
from regimage.image.image import Image
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from tests.content.test_oci_layout import write_layout
from tests.image.lab_memory import memory_of
from tests.lab.corpus import corpus

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 4
DESCRIPTOR = Descriptor("application/octet-stream", Digest.of(DATA), len(DATA))


@pytest.mark.parametrize(
    "byte_range", [ByteRange.last(4), ByteRange.first(64), ByteRange.first(64, start=1000)]
)
async def test_a_layout_reads_part_of_a_blob(tmp_path: Path, byte_range: ByteRange) -> None:
    layout = OCILayout(write_layout(tmp_path / "layout", {DESCRIPTOR.digest: DATA}, []))
    assert isinstance(layout, RangeReader)
    assert await layout.read_range(DESCRIPTOR, byte_range) == byte_range.slice(DATA)


async def test_a_layout_checks_the_blob_size_and_says_what_is_missing(tmp_path: Path) -> None:
    layout = OCILayout(write_layout(tmp_path / "layout", {DESCRIPTOR.digest: DATA[:-1]}, []))
    with pytest.raises(SizeMismatch, match="is 1023 bytes, its descriptor says 1024"):
        await layout.read_range(DESCRIPTOR, ByteRange.last(4))
    other = Descriptor("application/octet-stream", Digest.of(b"other"), 5)
    with pytest.raises(NotFound, match=f"blob {other.digest} not found in the OCI layout"):
        await layout.read_range(other, ByteRange.last(4))


async def test_memory_slices_and_records() -> None:
    memory = MemoryProvider([DATA])
    assert await memory.read_range(DESCRIPTOR, ByteRange.last(4)) == DATA[-4:]
    assert memory.ranges == [(DESCRIPTOR.digest, ByteRange.last(4))]
    with pytest.raises(NotFound):
        await memory.read_range(Descriptor("x", Digest.of(b"absent"), 6), ByteRange.last(4))


async def test_unpacked_size_over_a_layout(tmp_path: Path) -> None:
    memory, image = memory_of("zstd")
    directory = write_layout(tmp_path / "layout", memory.blobs, [image.target])
    layout = OCILayout(directory)
    offline = Image(image.name, await layout.resolve(str(image.target.digest)), layout)
    result = await offline.unpacked_size()
    want = corpus().images["zstd"].default
    assert [x.unpacked for x in result.layers] == [x.unpacked_size for x in want.layers]

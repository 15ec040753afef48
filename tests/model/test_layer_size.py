"""Layer sizes from a few bytes: gzip ISIZE, zstd Frame_Content_Size, and the trust rules."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest

from regimage.model import mediatypes as mt
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.layer_size import (
    ESTIMATE,
    EXACT,
    GZIP,
    TAR,
    UNKNOWN,
    UNTRUSTED,
    ZSTD,
    LayerSize,
    ZstdHeader,
    compression_of,
    parse_zstd_head,
)

DIGEST = Digest.of(b"layer")

#: Starts of frames the zstd CLI (v1.5.4) wrote for 100, 300 and 100,000 bytes of hex text, with
#: and without --no-content-size: 1-, 2- (+256) and 4-byte Frame_Content_Size, single-segment
#: with a checksum; and a windowed frame that states no content size.
ZSTD_CLI_100 = bytes.fromhex("28b52ffd24642502004206100ec0b70194d2ea9748db6c29")
ZSTD_CLI_300 = bytes.fromhex("28b52ffd642c00850500c6122b0db0e5013475124cd35624")
ZSTD_CLI_100000 = bytes.fromhex("28b52ffda4a08601005d3006fe6156c92c0bc00fb056c55a")
ZSTD_CLI_NO_SIZE = bytes.fromhex("28b52ffd04385d3006fe6156c92c0bc00fb056c55ad8caff")
MAGIC = bytes.fromhex("28b52ffd")


def layer(media_type: str, size: int) -> Descriptor:
    return Descriptor(media_type, DIGEST, size)


def skippable(payload: bytes, magic: int = 0x184D2A50) -> bytes:
    return struct.pack("<II", magic, len(payload)) + payload


@pytest.mark.parametrize(
    ("media_type", "kind"),
    [
        (mt.OCI_LAYER_GZIP, GZIP),
        (mt.DOCKER_LAYER, GZIP),
        (mt.DOCKER_FOREIGN_LAYER, GZIP),
        (mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP, GZIP),
        (mt.OCI_LAYER_ZSTD, ZSTD),
        (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, ZSTD),
        (mt.OCI_LAYER, TAR),
        ("application/vnd.docker.image.rootfs.diff.tar", TAR),
        (mt.OCI_LAYER_GZIP + "; charset=binary", GZIP),
        ("application/vnd.in-toto+json", None),
        ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", None),  # not an image layer
        (mt.OCI_CONFIG, None),
    ],
)
def test_compression_of_a_media_type(media_type: str, kind: str | None) -> None:
    assert compression_of(media_type) == kind


# ── zstd frame headers ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (ZSTD_CLI_100, ZstdHeader(0, 100)),
        (ZSTD_CLI_300, ZstdHeader(0, 300)),
        (ZSTD_CLI_100000, ZstdHeader(0, 100_000)),
        (ZSTD_CLI_NO_SIZE, ZstdHeader(0, None)),
        # 8-byte Frame_Content_Size (FCS_Flag 3), single segment: 5 GiB
        (MAGIC + b"\xe0" + struct.pack("<Q", 5 << 30), ZstdHeader(0, 5 << 30)),
        # a window, a 4-byte dictionary ID, then a 4-byte content size
        (MAGIC + b"\x83\x38" + b"DICT" + struct.pack("<I", 70_000), ZstdHeader(0, 70_000)),
        # a 1-byte dictionary ID in a single-segment frame, 1-byte content size
        (MAGIC + b"\x21\x07\x2a", ZstdHeader(0, 42)),
        # skippable frames (any of the 16 magics) before the frame
        (skippable(b"meta") + ZSTD_CLI_300, ZstdHeader(12, 300)),
        (
            skippable(b"", 0x184D2A5F) + skippable(b"xy", 0x184D2A57) + ZSTD_CLI_100,
            ZstdHeader(18, 100),
        ),
    ],
)
def test_frame_content_size(head: bytes, expected: ZstdHeader) -> None:
    assert parse_zstd_head(head) == expected


@pytest.mark.parametrize(
    ("head", "offset", "more_at"),
    [
        (skippable(b"m" * 100)[:64], 0, 108),  # a skippable frame larger than what was read
        (skippable(b"m" * 100)[:64], 30, 138),  # offsets are the stream's
        (ZSTD_CLI_100000[:7], 0, 0),  # the header is cut short: read the frame again
        (b"\x50\x2a", 0, 0),
        (b"", 5, 5),
    ],
)
def test_a_head_cut_short_says_where_to_read_next(head: bytes, offset: int, more_at: int) -> None:
    assert parse_zstd_head(head, offset).more_at == more_at


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "no zstd frame at byte 0"),
        (skippable(b"x") + b"PK\x03\x04", "no zstd frame at byte 9"),
        (MAGIC + b"\x08\x38", "reserved bit"),
    ],
)
def test_what_is_not_a_zstd_frame(head: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_zstd_head(head)


# ── the trust rules ────────────────────────────────────────────────────────────────────────────────


def trailer(isize: int) -> bytes:
    return struct.pack("<I", isize % (1 << 32))


def test_gzip_isize_of_a_real_gzip_layer_is_an_estimate() -> None:
    tar = bytes(10240)
    data = gzip.compress(tar)
    size = LayerSize.from_gzip_trailer(layer(mt.OCI_LAYER_GZIP, len(data)), data[-4:])
    assert (size.unpacked, size.status, size.method, size.note) == (
        10240,
        ESTIMATE,
        "gzip-isize",
        "",
    )
    assert size.known


@pytest.mark.parametrize(
    ("compressed", "isize", "status", "note"),
    [
        (40_000, 81_920, ESTIMATE, ""),
        # over 4 GiB unpacked: ISIZE wrapped to something smaller than the compressed size
        (2_000_000_000, (5 << 30) % (1 << 32), UNTRUSTED, "modulo 2^32"),
        (5 << 30, 1 << 20, UNTRUSTED, "modulo 2^32"),  # over 4 GiB compressed: always wrapped
        (40_000, 0, UNTRUSTED, "several gzip members"),  # eStargz's footer member
        (51, 0, ESTIMATE, ""),  # an empty tar stream is possible in 51 bytes
        (100, 1032 * 100 + 512 * 4, UNTRUSTED, "at most 1032:1"),
        (40_000, 81_920 + 7, UNTRUSTED, "512-byte tar blocks"),
        (19, 0, UNKNOWN, "too few for gzip"),
    ],
)
def test_gzip_trust_rules(compressed: int, isize: int, status: str, note: str) -> None:
    size = LayerSize.from_gzip_trailer(layer(mt.OCI_LAYER_GZIP, compressed), trailer(isize))
    assert size.status == status
    assert note in size.note
    assert size.known is (status == ESTIMATE)
    if status == UNTRUSTED:
        assert size.unpacked == isize  # the value read is kept, and said untrusted


def test_a_multi_member_gzip_is_caught_by_the_tar_rule() -> None:
    tar = bytes(10240 * 3)
    members = b"".join(gzip.compress(tar[i : i + 10245]) for i in range(0, len(tar), 10245))
    assert zlib.decompress(members[: len(gzip.compress(tar[:10245]))], 31) == tar[:10245]
    size = LayerSize.from_gzip_trailer(layer(mt.OCI_LAYER_GZIP, len(members)), members[-4:])
    assert size.status == UNTRUSTED
    assert size.unpacked == len(tar) - 2 * 10245  # only the last member's


@pytest.mark.parametrize(
    ("compressed", "header", "status", "note"),
    [
        (50_715, ZstdHeader(0, 100_352), ESTIMATE, ""),
        (50_715, ZstdHeader(0, 100_000), UNTRUSTED, "512-byte tar blocks"),
        (10_272, ZstdHeader(0, 5_120), UNTRUSTED, "more frames"),  # zstd:chunked
        (10_440, ZstdHeader(184, 10_240), ESTIMATE, ""),  # after a skippable frame
        (10_249, ZstdHeader(0, None), UNKNOWN, "does not state its content size"),
    ],
)
def test_zstd_trust_rules(compressed: int, header: ZstdHeader, status: str, note: str) -> None:
    size = LayerSize.from_zstd_header(layer(mt.OCI_LAYER_ZSTD, compressed), header)
    assert (size.status, size.method) == (status, "zstd-frame-content-size")
    assert note in size.note


def test_an_uncompressed_layer_is_exact() -> None:
    size = LayerSize.exact(layer(mt.OCI_LAYER, 10240))
    assert (size.unpacked, size.status, size.method, size.known) == (10240, EXACT, "size", True)


def test_unknown_has_no_value() -> None:
    size = LayerSize.unknown(layer(mt.OCI_LAYER_GZIP, 10), "why", GZIP)
    assert (size.unpacked, size.status, size.method, size.note, size.known) == (
        None,
        UNKNOWN,
        "gzip-isize",
        "why",
        False,
    )

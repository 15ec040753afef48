"""How big a layer is once unpacked, read from a few of its bytes, and how far to trust it.

- **Uncompressed tar** (``…layer.v1.tar``): the descriptor's size. Exact; nothing is read.
- **gzip** (RFC 1952): a member ends with ISIZE, the uncompressed length modulo 2^32 (little
  endian). The last 4 bytes of the layer give it: one suffix range request.
- **zstd** (RFC 8878): a frame header may carry Frame_Content_Size. The first bytes of the layer
  give it (skippable frames before it are stepped over: a second range request when one is
  larger than what the first read).

Both are the size of the uncompressed tar stream (what ``docker images`` adds up), and both are
**estimates**: the trailer or the header describe one member or frame, not necessarily the whole
layer. A value is reported but **untrusted** when it cannot be the whole layer's (the rules are
the ones below, each a bound a single-member stream cannot break):

1. *too small for the compressed size*: deflate stores incompressible data with 5 bytes per
   65,535 (zstd: 3 bytes per block of at least 1 KiB), so a stream of ``C`` bytes, less its
   header and trailer (and 1 KiB of optional gzip header fields), holds at least about that many
   bytes. Below it, the layer is 4 GiB or more unpacked (ISIZE wraps), or holds several members
   or frames (eStargz, zstd:chunked) of which the value is the last member's or first frame's;
2. *too large for the compressed size*: deflate compresses at most 1032:1;
3. *not a whole tar*: a tar stream is a whole number of 512-byte blocks (so is ISIZE, modulo 2^32).

**Unknown** is a layer whose value could not be read: a frame header without a content size,
a registry that sent the whole layer instead of a range, a blob the registry does not have, a
media type that is not a layer's.
"""

from __future__ import annotations

from dataclasses import dataclass

from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import is_layer

__all__ = [
    "ESTIMATE",
    "EXACT",
    "GZIP",
    "GZIP_TRAILER_BYTES",
    "TAR",
    "UNKNOWN",
    "UNTRUSTED",
    "ZSTD",
    "ZSTD_HEAD_BYTES",
    "LayerSize",
    "ZstdHeader",
    "compression_of",
    "parse_zstd_head",
]

# ── statuses and methods ───────────────────────────────────────────────────────────────────────────
EXACT = "exact"
ESTIMATE = "estimate"
UNTRUSTED = "untrusted"
UNKNOWN = "unknown"

TAR = "tar"
GZIP = "gzip"
ZSTD = "zstd"
_METHODS = {TAR: "size", GZIP: "gzip-isize", ZSTD: "zstd-frame-content-size"}

#: gzip's trailer ends with the 4-byte ISIZE.
GZIP_TRAILER_BYTES = 4
#: Bytes read from the start of a zstd layer: a frame header is at most 18 bytes (magic 4,
#: descriptor 1, window 1, dictionary ID 4, content size 8); 64 also hold a small skippable frame.
ZSTD_HEAD_BYTES = 64
#: A tar stream is a whole number of these.
TAR_BLOCK_BYTES = 512
#: The smallest gzip member: a 10-byte header, an empty final block (2 bytes), an 8-byte trailer.
_GZIP_MIN_BYTES = 20
#: Header and trailer of a gzip member, and room for optional header fields (name, comment, extra).
_GZIP_SLACK_BYTES = 18 + 1024
#: A zstd frame's header (at most 18 bytes), checksum (4) and one last block header (3).
_ZSTD_SLACK_BYTES = 25
#: deflate's largest compression ratio (a long run of one byte).
_DEFLATE_MAX_RATIO = 1032

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MAGIC = 0x184D2A50  # … to 0x184D2A5F
_SKIPPABLE_MASK = 0xFFFFFFF0


def compression_of(media_type: str) -> str | None:
    """:data:`TAR`, :data:`GZIP` or :data:`ZSTD` for a layer media type; None for anything else."""
    base = media_type.split(";", 1)[0].strip().lower()
    if not is_layer(base):
        return None
    if base.endswith(("+gzip", ".tar.gzip")):
        return GZIP
    if base.endswith(("+zstd", ".tar.zstd")):
        return ZSTD
    return TAR if base.endswith(".tar") else None


# ── zstd frame headers ─────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class ZstdHeader:
    """What the start of a zstd stream says: where its first frame starts, its Frame_Content_Size
    (None when the frame does not state it), or that the bytes read ended too soon
    (``more_at``: read again from this offset)."""

    offset: int
    content_size: int | None = None
    more_at: int | None = None


def parse_zstd_head(data: bytes, offset: int = 0) -> ZstdHeader:
    """Read the first frame header in ``data``, the stream's bytes from ``offset`` on.

    Skippable frames (magic ``0x184D2A5?``, a 4-byte size, that many bytes) are stepped over
    (RFC 8878 §3.1.2). The header is the magic, the Frame_Header_Descriptor, the Window_Descriptor
    unless Single_Segment_flag, the Dictionary_ID, then Frame_Content_Size: 0, 1, 2, 4 or 8
    bytes as FCS_Flag says (1 when the flag is 0 in a single-segment frame; the 2-byte form is
    offset by 256). Raises ValueError when the bytes are not a zstd frame.
    """
    pos = 0
    while True:
        if len(data) - pos < 4:
            return ZstdHeader(offset + pos, more_at=offset + pos)
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic & _SKIPPABLE_MASK != _SKIPPABLE_MAGIC:
            break
        if len(data) - pos < 8:
            return ZstdHeader(offset + pos, more_at=offset + pos)
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
    if magic != _ZSTD_MAGIC:
        raise ValueError(f"no zstd frame at byte {offset + pos} (magic {magic:#010x})")
    header = data[pos:]
    if len(header) < 5:
        return ZstdHeader(offset + pos, more_at=offset + pos)
    descriptor = header[4]
    if descriptor & 0x08:
        raise ValueError(f"the zstd frame at byte {offset + pos} sets a reserved bit")
    single_segment = bool(descriptor & 0x20)
    fcs_bytes = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 0x03]
    if len(header) < start + fcs_bytes:
        return ZstdHeader(offset + pos, more_at=offset + pos)
    if fcs_bytes == 0:
        return ZstdHeader(offset + pos)
    value = int.from_bytes(header[start : start + fcs_bytes], "little")
    return ZstdHeader(offset + pos, value + 256 if fcs_bytes == 2 else value)


# ── the answer for one layer ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class LayerSize:
    """One layer's unpacked size: ``unpacked`` as read (None when nothing could be), ``status``
    (:data:`EXACT`, :data:`ESTIMATE`, :data:`UNTRUSTED`, :data:`UNKNOWN`), ``method`` (``size``,
    ``gzip-isize``, ``zstd-frame-content-size``; None when nothing was read) and ``note``, which
    says why a value is untrusted or unknown."""

    digest: Digest
    media_type: str
    size: int
    unpacked: int | None
    status: str
    method: str | None = None
    note: str = ""

    @property
    def known(self) -> bool:
        """Whether the value counts in a sum: exact or an estimate."""
        return self.status in (EXACT, ESTIMATE)

    @classmethod
    def exact(cls, descriptor: Descriptor) -> LayerSize:
        """An uncompressed layer: its size is its unpacked size."""
        return cls._of(descriptor, descriptor.size, EXACT, TAR)

    @classmethod
    def unknown(cls, descriptor: Descriptor, note: str, method: str | None = None) -> LayerSize:
        return cls._of(descriptor, None, UNKNOWN, method, note)

    @classmethod
    def from_gzip_trailer(cls, descriptor: Descriptor, tail: bytes) -> LayerSize:
        """The estimate from the last bytes of a gzip layer (its ISIZE), with the trust rules."""
        compressed = descriptor.size
        if compressed < _GZIP_MIN_BYTES or len(tail) < GZIP_TRAILER_BYTES:
            return cls.unknown(descriptor, f"{compressed} bytes are too few for gzip", GZIP)
        isize = int.from_bytes(tail[-GZIP_TRAILER_BYTES:], "little")
        floor = max(0, compressed - _GZIP_SLACK_BYTES) * 65535 // 65540
        if isize < floor:
            return cls._untrusted(
                descriptor,
                isize,
                GZIP,
                f"ISIZE {isize:,} is less than {compressed:,} compressed bytes can hold: over "
                "4 GiB unpacked (ISIZE counts modulo 2^32) or several gzip members (ISIZE is "
                "only the last one's)",
            )
        if isize > _DEFLATE_MAX_RATIO * compressed:
            return cls._untrusted(
                descriptor,
                isize,
                GZIP,
                f"ISIZE {isize:,} is more than {compressed:,} compressed bytes can hold "
                f"(deflate compresses at most {_DEFLATE_MAX_RATIO}:1): not a gzip trailer",
            )
        return cls._whole_tar(descriptor, isize, GZIP, "ISIZE")

    @classmethod
    def from_zstd_header(cls, descriptor: Descriptor, header: ZstdHeader) -> LayerSize:
        """The estimate from a zstd layer's first frame header, with the trust rules."""
        if header.content_size is None:
            return cls.unknown(descriptor, "the zstd frame does not state its content size", ZSTD)
        value = header.content_size
        floor = max(0, descriptor.size - header.offset - _ZSTD_SLACK_BYTES) * 1024 // 1027
        if value < floor:
            return cls._untrusted(
                descriptor,
                value,
                ZSTD,
                f"the first frame's content size {value:,} is less than "
                f"{descriptor.size:,} compressed bytes can hold: the layer has more frames "
                "(zstd:chunked?) and their sizes are not read",
            )
        return cls._whole_tar(descriptor, value, ZSTD, "the frame content size")

    @classmethod
    def _whole_tar(cls, descriptor: Descriptor, value: int, method: str, what: str) -> LayerSize:
        if value % TAR_BLOCK_BYTES:
            return cls._untrusted(
                descriptor,
                value,
                method,
                f"{what} {value:,} is not a whole number of 512-byte tar blocks: not the whole "
                "layer (several members or frames?)",
            )
        return cls._of(descriptor, value, ESTIMATE, method)

    @classmethod
    def _untrusted(cls, descriptor: Descriptor, value: int, method: str, note: str) -> LayerSize:
        return cls._of(descriptor, value, UNTRUSTED, method, note)

    @classmethod
    def _of(
        cls,
        descriptor: Descriptor,
        value: int | None,
        status: str,
        method: str | None,
        note: str = "",
    ) -> LayerSize:
        return cls(
            descriptor.digest,
            descriptor.media_type,
            descriptor.size,
            value,
            status,
            _METHODS.get(method, method) if method is not None else None,
            note,
        )

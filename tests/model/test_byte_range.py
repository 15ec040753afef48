"""ByteRange: the Range header asked, the Content-Range accepted, slices of whole blobs."""

from __future__ import annotations

import pytest

from regimage.model.byte_range import ByteRange


@pytest.mark.parametrize(
    ("byte_range", "header"),
    [
        (ByteRange.last(4), "bytes=-4"),
        (ByteRange.first(64), "bytes=0-63"),
        (ByteRange.first(18, start=184), "bytes=184-201"),
        (ByteRange.first(1), "bytes=0-0"),
    ],
)
def test_header_round_trips(byte_range: ByteRange, header: str) -> None:
    assert byte_range.header() == str(byte_range) == header
    assert ByteRange.parse(header) == byte_range
    assert repr(byte_range) == f"<ByteRange({header!r})>"


@pytest.mark.parametrize(
    "text", ["bytes=", "bytes=5-4", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=1-"]
)
def test_other_range_forms_do_not_parse(text: str) -> None:
    with pytest.raises(ValueError, match="range"):
        ByteRange.parse(text)


@pytest.mark.parametrize(("start", "length"), [(0, 0), (-1, 4), (None, 0)])
def test_empty_or_negative_ranges_are_refused(start: int | None, length: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(start, length)


@pytest.mark.parametrize(
    ("byte_range", "total", "bounds"),
    [
        (ByteRange.last(4), 100, (96, 100)),
        (ByteRange.last(4), 3, (0, 3)),  # a blob shorter than the suffix: all of it
        (ByteRange.first(64), 100, (0, 64)),
        (ByteRange.first(64), 10, (0, 10)),
        (ByteRange.first(8, start=96), 100, (96, 100)),
        (ByteRange.first(8, start=200), 100, (100, 100)),  # past the end: nothing
    ],
)
def test_bounds_and_slices_are_clipped_to_the_blob(
    byte_range: ByteRange, total: int, bounds: tuple[int, int]
) -> None:
    assert byte_range.bounds(total) == bounds
    data = bytes(range(total % 256)) * (total // 256 + 1)
    data = data[:total]
    assert byte_range.slice(data) == data[bounds[0] : bounds[1]]


@pytest.mark.parametrize(
    ("byte_range", "content_range", "answered"),
    [
        (ByteRange.last(4), "bytes 96-99/100", True),
        (ByteRange.last(4), "bytes 96-99/*", True),
        (ByteRange.last(4), "BYTES 96-99/100", True),
        (ByteRange.last(4), "bytes 0-3/100", False),  # the first bytes, not the last
        (ByteRange.last(4), "bytes 96-99/101", False),  # another blob's size
        (ByteRange.last(4), None, False),
        (ByteRange.last(4), "bytes */100", False),
        (ByteRange.first(64), "bytes 0-63/100", True),
        (ByteRange.first(64), "bytes 0-99/100", False),  # more than asked
        (ByteRange.first(64, start=90), "bytes 90-99/100", True),  # clipped at the end
    ],
)
def test_content_range_must_be_the_range_asked(
    byte_range: ByteRange, content_range: str | None, answered: bool
) -> None:
    assert byte_range.answered_by(content_range, 100) is answered


@pytest.mark.parametrize(
    ("content_range", "length"),
    [("bytes 0-3/100", 100), ("bytes 0-3/*", None), (None, None), ("bytes */100", None)],
)
def test_complete_length(content_range: str | None, length: int | None) -> None:
    assert ByteRange.complete_length(content_range) == length

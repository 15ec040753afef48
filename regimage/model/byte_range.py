"""Byte ranges of a blob: the ``Range`` header asked (RFC 9110 §14.1.2) and the ``Content-Range``
a ``206 Partial Content`` answer must carry back (§14.4).

Only the two single-range forms regimage asks for: the first ``length`` bytes from an offset
(``bytes=0-17``) and the last ``length`` bytes (``bytes=-4``, a suffix range). The same value
slices bytes that are already whole (an OCI layout, memory, a registry that sent the whole blob).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ByteRange"]

# Content-Range = range-unit SP ( range-resp / unsatisfied-range ); only bytes, only a range-resp:
# "bytes" SP first-pos "-" last-pos "/" ( complete-length / "*" )
_CONTENT_RANGE = re.compile(
    r"bytes[ ]+(?P<first>[0-9]{1,19})-(?P<last>[0-9]{1,19})/(?P<total>[0-9]{1,19}|\*)",
    re.ASCII | re.IGNORECASE,
)
# The two Range forms asked: "bytes=" first-pos "-" last-pos, and "bytes=-" suffix-length.
_RANGE = re.compile(
    r"bytes=(?:(?P<first>[0-9]{1,19})-(?P<last>[0-9]{1,19})|-(?P<suffix>[0-9]{1,19}))",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """``length`` bytes from ``start``, or the last ``length`` bytes when ``start`` is None."""

    start: int | None
    length: int

    def __post_init__(self) -> None:
        if self.length < 1 or (self.start is not None and self.start < 0):
            raise ValueError(f"invalid byte range: start={self.start}, length={self.length}")

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        """A ``Range`` header value of one of the two forms: ``bytes=0-17`` or ``bytes=-4``."""
        match = _RANGE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a single byte range: {text!r}")
        if match["suffix"] is not None:
            return cls(None, int(match["suffix"]))
        first, last = int(match["first"]), int(match["last"])
        if last < first:
            raise ValueError(f"a byte range that ends before it starts: {text!r}")
        return cls(first, last - first + 1)

    @classmethod
    def first(cls, length: int, *, start: int = 0) -> ByteRange:
        """``length`` bytes from ``start`` (default: the blob's first bytes)."""
        return cls(start, length)

    @classmethod
    def last(cls, length: int) -> ByteRange:
        """The last ``length`` bytes (a suffix range)."""
        return cls(None, length)

    @property
    def is_suffix(self) -> bool:
        return self.start is None

    def header(self) -> str:
        """The ``Range`` header value: ``bytes=0-17`` or ``bytes=-4``."""
        if self.start is None:
            return f"bytes=-{self.length}"
        return f"bytes={self.start}-{self.start + self.length - 1}"

    def bounds(self, total: int) -> tuple[int, int]:
        """The ``[first, end)`` offsets this range covers in a blob of ``total`` bytes, clipped
        to the blob (empty when it starts past the end)."""
        if self.start is None:
            return max(0, total - self.length), total
        first = min(self.start, total)
        return first, min(total, self.start + self.length)

    def slice(self, data: bytes) -> bytes:
        """The bytes of this range in ``data``, the whole blob."""
        first, end = self.bounds(len(data))
        return data[first:end]

    def answered_by(self, content_range: str | None, total: int) -> bool:
        """Whether a ``206``'s ``Content-Range`` is exactly this range of a ``total``-byte blob.

        ``complete-length`` may be ``*`` (unknown to the server); any other value must be
        ``total``. A missing or unparsable header, or another range, is not an answer.
        """
        if content_range is None:
            return False
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        if match is None:
            return False
        first, end = self.bounds(total)
        if match["total"] != "*" and int(match["total"]) != total:
            return False
        return (int(match["first"]), int(match["last"]) + 1) == (first, end)

    @staticmethod
    def complete_length(content_range: str | None) -> int | None:
        """The ``complete-length`` a ``Content-Range`` states (None: absent, ``*`` or unparsable)."""
        if content_range is None:
            return None
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        if match is None or match["total"] == "*":
            return None
        return int(match["total"])

    def __str__(self) -> str:
        return self.header()

    def __repr__(self) -> str:
        return f"<ByteRange({self.header()!r})>"

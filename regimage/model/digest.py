"""Content digests: parse, compute and verify ``algorithm:encoded`` identifiers.

Grammar (OCI image-spec, descriptor.md "Digests")::

    digest     ::= algorithm ":" encoded
    algorithm  ::= component (separator component)*
    component  ::= [a-z0-9]+
    separator  ::= [+._-]
    encoded    ::= [a-zA-Z0-9=_-]+

Registered algorithms are checked further: ``sha256`` is 64 and ``sha512`` 128 lower-case hex
characters. Other well-formed algorithms parse (a registry may list them) but cannot be computed or
verified, so :meth:`Digest.verify` refuses them rather than trusting the bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from regimage.errors import DigestMismatch, InvalidDigest

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["Digest", "DigestVerifier"]

_COMPONENT = r"[a-z0-9]+"
_SEPARATOR = r"[+._-]"
_ALGORITHM = rf"{_COMPONENT}(?:{_SEPARATOR}{_COMPONENT})*"
_ENCODED = r"[a-zA-Z0-9=_-]+"
_DIGEST_RE = re.compile(rf"(?P<algorithm>{_ALGORITHM}):(?P<encoded>{_ENCODED})", re.ASCII)

#: Registered algorithms and the exact shape of their encoded part.
_REGISTERED: dict[str, re.Pattern[str]] = {
    "sha256": re.compile(r"[a-f0-9]{64}", re.ASCII),
    "sha512": re.compile(r"[a-f0-9]{128}", re.ASCII),
}


@dataclass(frozen=True, slots=True, repr=False)
class Digest:
    """A content identifier such as ``sha256:e3b0…``; ``str()`` gives it back unchanged."""

    algorithm: str
    encoded: str

    SHA256: ClassVar[str] = "sha256"
    SHA512: ClassVar[str] = "sha512"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate a digest string, raising :class:`InvalidDigest` naming what is wrong."""
        if not isinstance(text, str):
            raise InvalidDigest(f"digest must be a string, not {type(text).__name__}")
        match = _DIGEST_RE.fullmatch(text)
        if match is None:
            if ":" not in text:
                raise InvalidDigest(f"digest must be 'algorithm:hex', got {text!r}")
            raise InvalidDigest(f"invalid digest format: {text!r}")
        algorithm, encoded = match["algorithm"], match["encoded"]
        shape = _REGISTERED.get(algorithm)
        if shape is not None and shape.fullmatch(encoded) is None:
            want = 64 if algorithm == cls.SHA256 else 128
            raise InvalidDigest(
                f"{algorithm} digest must be {want} lower-case hex characters, got {text!r}"
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = SHA256) -> Digest:
        """Compute the digest of ``data``."""
        return cls(algorithm, _hash(algorithm, data))

    @property
    def is_verifiable(self) -> bool:
        """Whether regimage can compute this algorithm (sha256 or sha512)."""
        return self.algorithm in _REGISTERED

    def verifier(self) -> DigestVerifier:
        """An incremental checker for streamed bytes."""
        return DigestVerifier(self)

    def verify(self, data: bytes) -> None:
        """Raise :class:`DigestMismatch` unless ``data`` hashes to this digest."""
        checker = self.verifier()
        checker.update(data)
        checker.verify()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def __repr__(self) -> str:
        return f"<Digest({str(self)!r})>"

    @property
    def short(self) -> str:
        """The first 12 hex characters, as people print image IDs."""
        return self.encoded[:12]


class DigestVerifier:
    """Hashes bytes as they arrive, then checks them against the expected digest."""

    __slots__ = ("_expected", "_hash", "_length")

    def __init__(self, expected: Digest):
        self._expected = expected
        self._hash = _new_hash(expected.algorithm)
        self._length = 0

    @property
    def length(self) -> int:
        """How many bytes have been fed so far."""
        return self._length

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self._length += len(data)

    def digest(self) -> Digest:
        """The digest of the bytes fed so far."""
        return Digest(self._expected.algorithm, self._hash.hexdigest())

    def verify(self) -> None:
        """Raise :class:`DigestMismatch` unless the bytes fed so far hash to the expected digest."""
        actual = self.digest()
        if actual != self._expected:
            raise DigestMismatch(
                f"content does not match its digest: expected {self._expected}, got {actual}",
                expected=str(self._expected),
                actual=str(actual),
            )


def _new_hash(algorithm: str) -> _Hash:
    if algorithm not in _REGISTERED:
        raise InvalidDigest(
            f"cannot verify digest algorithm {algorithm!r}: only sha256 and sha512 are supported"
        )
    return hashlib.new(algorithm)


def _hash(algorithm: str, data: bytes) -> str:
    hasher = _new_hash(algorithm)
    hasher.update(data)
    return hasher.hexdigest()

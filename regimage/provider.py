"""The Provider protocol: what the walker needs to read content, and an in-memory provider.

containerd splits ``content.Provider`` (read by descriptor) from the registry client; so do we. The
walker and ``Image`` only ever see this protocol, so the same questions can be answered from a
registry, an OCI layout directory or a dictionary in a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from regimage.descriptor import Descriptor
from regimage.digest import Digest
from regimage.errors import NotFound, SizeLimitExceeded, SizeMismatch

__all__ = ["MemoryProvider", "Provider"]


@runtime_checkable
class Provider(Protocol):
    """Reads verified content by descriptor."""

    async def fetch(self, descriptor: Descriptor) -> bytes:
        """Return the bytes ``descriptor`` points at, verified against its digest and size.

        Raises :class:`~regimage.errors.NotFound` when the content is absent.
        """
        ...


class MemoryProvider:
    """A provider over a dict of digest → bytes; counts what it serves so tests can assert reads."""

    def __init__(self, blobs: Mapping[Digest, bytes] | Iterable[bytes] = ()):
        self._blobs: dict[Digest, bytes] = {}
        self.fetched: list[Digest] = []
        if isinstance(blobs, Mapping):
            for digest, data in blobs.items():
                digest.verify(data)
                self._blobs[digest] = data
        else:
            for data in blobs:
                self.add(data)

    def add(self, data: bytes, algorithm: str = Digest.SHA256) -> Digest:
        """Store ``data`` under its digest and return the digest."""
        digest = Digest.of(data, algorithm)
        self._blobs[digest] = data
        return digest

    def __contains__(self, digest: object) -> bool:
        return digest in self._blobs

    async def fetch(self, descriptor: Descriptor) -> bytes:
        data = self._blobs.get(descriptor.digest)
        if data is None:
            raise NotFound(f"content {descriptor.digest} not found in memory provider")
        if len(data) != descriptor.size:
            raise SizeMismatch(
                f"content {descriptor.digest} is {len(data)} bytes, descriptor says "
                f"{descriptor.size}",
                expected=descriptor.size,
                actual=len(data),
            )
        self.fetched.append(descriptor.digest)
        return data


def check_size(descriptor: Descriptor, limit: int) -> None:
    """Refuse a descriptor whose declared size is over ``limit`` before reading anything."""
    if descriptor.size > limit:
        raise SizeLimitExceeded(
            f"{descriptor.media_type} {descriptor.digest} declares {descriptor.size} bytes, over the "
            f"{limit}-byte limit",
            limit=limit,
        )

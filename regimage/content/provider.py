"""The Provider protocol: what the walker needs to read content, and an in-memory provider.

containerd splits ``content.Provider`` (read by descriptor) from the registry client; so do we. The
walker and ``Image`` only ever see this protocol, so the same questions can be answered from a
registry, an OCI layout directory or a dictionary in a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from regimage.errors import NotFound, SizeLimitExceeded, SizeMismatch
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import Index, Manifest, parse_document
from regimage.model.reference import Reference

__all__ = ["MemoryProvider", "Provider", "RangeReader", "ReferrersProvider", "Resolver"]


@runtime_checkable
class Provider(Protocol):
    """Reads verified content by descriptor."""

    async def fetch(self, descriptor: Descriptor) -> bytes:
        """Return the bytes ``descriptor`` points at, verified against its digest and size.

        Raises :class:`~regimage.errors.NotFound` when the content is absent.
        """
        ...


@runtime_checkable
class Resolver(Protocol):
    """Turns a reference into the descriptor of its root document, and gives its content."""

    async def resolve(self, reference: Reference) -> Descriptor:
        """The descriptor (media type, digest, size) ``reference`` points at now."""
        ...

    def repository(self, reference: Reference) -> Provider:
        """A provider reading content of ``reference``'s repository."""
        ...


@runtime_checkable
class ReferrersProvider(Protocol):
    """A provider that can list the manifests whose ``subject`` is a given descriptor (OCI 1.1)."""

    async def referrers(
        self, subject: Descriptor, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Descriptors of the referrers of ``subject``, only those of ``artifact_type`` if given."""
        ...


@runtime_checkable
class RangeReader(Protocol):
    """A provider that can read part of a blob without reading all of it (a layer's first or last
    bytes: what :meth:`~regimage.image.image.Image.unpacked_size` needs)."""

    async def read_range(self, descriptor: Descriptor, byte_range: ByteRange) -> bytes | None:
        """The bytes of ``byte_range`` of the blob ``descriptor`` points at (fewer when the blob
        ends first), or None when the source cannot give them without reading far more (a
        registry that ignores ``Range`` and starts sending the whole blob).

        Unlike :meth:`Provider.fetch`, a part cannot be checked against the digest.
        """
        ...


class MemoryProvider:
    """A provider over a dict of digest → bytes; counts what it serves so tests can assert reads.

    It also acts as a :class:`Resolver` (tags set with :meth:`tag`, digests of stored content; one
    repository: the reference's name is ignored), as a :class:`ReferrersProvider` (stored
    manifests whose ``subject`` points at the given digest) and as a :class:`RangeReader`
    (slices of what it stores; ``ranges`` records each range read).
    """

    def __init__(self, blobs: Mapping[Digest, bytes] | Iterable[bytes] = ()):
        self._blobs: dict[Digest, bytes] = {}
        self._media_types: dict[Digest, str] = {}
        self.tags: dict[str, Descriptor] = {}
        self.fetched: list[Digest] = []
        self.ranges: list[tuple[Digest, ByteRange]] = []
        if isinstance(blobs, Mapping):
            for digest, data in blobs.items():
                digest.verify(data)
                self._blobs[digest] = data
        else:
            for data in blobs:
                self.add(data)

    def add(
        self, data: bytes, algorithm: str = Digest.SHA256, *, media_type: str | None = None
    ) -> Digest:
        """Store ``data`` under its digest and return the digest; ``media_type`` is remembered
        for :meth:`resolve` and :meth:`referrers`."""
        digest = Digest.of(data, algorithm)
        self._blobs[digest] = data
        if media_type is not None:
            self._media_types[digest] = media_type
        return digest

    def add_document(self, data: bytes, media_type: str) -> Descriptor:
        """Store ``data`` and return a descriptor for it."""
        return Descriptor(media_type, self.add(data, media_type=media_type), len(data))

    def tag(self, tag: str, descriptor: Descriptor) -> None:
        """Point ``tag`` at ``descriptor`` (its content should be stored too)."""
        self.tags[tag] = descriptor

    async def resolve(self, reference: Reference) -> Descriptor:
        """The descriptor of ``reference``'s digest (stored content) or tag (see :meth:`tag`)."""
        if reference.digest is not None:
            data = self._blobs.get(reference.digest)
            if data is None:
                raise NotFound(
                    f"manifest {reference.digest} not found in memory provider",
                    reference=str(reference),
                )
            media_type = self._media_types.get(reference.digest) or _sniff_media_type(data)
            return Descriptor(media_type, reference.digest, len(data))
        found = self.tags.get(reference.tag or "latest")
        if found is None:
            raise NotFound(
                f"tag {reference.tag!r} not found in memory provider", reference=str(reference)
            )
        return found

    def repository(self, reference: Reference) -> MemoryProvider:
        """This provider: it holds a single repository."""
        return self

    async def referrers(
        self, subject: Descriptor, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """Stored manifests and indexes whose ``subject`` is ``subject``, in the order stored.

        Each descriptor carries the referrer's ``artifactType`` (or its config's media type, as
        the OCI distribution spec says) and its annotations.
        """
        found: list[Descriptor] = []
        for digest, media_type in self._media_types.items():
            try:
                document = parse_document(self._blobs[digest], media_type)
            except ValueError:  # InvalidDocument, UnsupportedMediaType: not a manifest
                continue
            if not isinstance(document, (Manifest, Index)) or document.subject is None:
                continue
            if document.subject.digest != subject.digest:
                continue
            kind = document.artifact_type
            if kind is None and isinstance(document, Manifest):
                kind = document.config.media_type
            if artifact_type is not None and kind != artifact_type:
                continue
            found.append(
                Descriptor(
                    media_type,
                    digest,
                    len(self._blobs[digest]),
                    annotations=dict(document.annotations),
                    artifact_type=kind,
                )
            )
        return found

    @property
    def blobs(self) -> Mapping[Digest, bytes]:
        """Everything stored, by digest (a read-only view)."""
        return MappingProxyType(self._blobs)

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

    async def read_range(self, descriptor: Descriptor, byte_range: ByteRange) -> bytes | None:
        """A slice of the stored blob (NotFound when absent, SizeMismatch as :meth:`fetch`)."""
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
        self.ranges.append((descriptor.digest, byte_range))
        return byte_range.slice(data)


def _sniff_media_type(data: bytes) -> str:
    """The media type a stored document declares (or its shape implies)."""
    return parse_document(data, None).media_type


def check_size(descriptor: Descriptor, limit: int) -> None:
    """Refuse a descriptor whose declared size is over ``limit`` before reading anything."""
    if descriptor.size > limit:
        raise SizeLimitExceeded(
            f"{descriptor.media_type} {descriptor.digest} declares {descriptor.size} bytes, over the "
            f"{limit}-byte limit",
            limit=limit,
        )

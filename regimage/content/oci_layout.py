"""An OCI image layout directory as a provider and resolver (image-spec v1.1 image-layout.md).

A layout is a directory holding an ``oci-layout`` file (``{"imageLayoutVersion": "1.0.0"}``), an
``index.json`` (an OCI index whose entries name the images, by their
``org.opencontainers.image.ref.name`` annotation), and ``blobs/<algorithm>/<encoded>`` files.
``skopeo copy docker://… oci:DIR:TAG`` and ``docker buildx --output type=oci`` write them.

References take skopeo's form: ``oci:PATH`` (the layout's only image), ``oci:PATH:NAME`` (the
path ends at the first colon; the name is a tag or a full name such as
``docker.io/library/alpine:3.20``), and regimage's ``oci:PATH@sha256:…``. Reads are bounded and
verified like a registry's: size first, then digest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import anyio

from regimage.content.provider import check_size
from regimage.errors import (
    InvalidDigest,
    InvalidDocument,
    InvalidReference,
    NotFound,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.model._json import loads_object
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import Index, parse_document
from regimage.model.mediatypes import OCI_INDEX, is_index, is_manifest, is_schema1
from regimage.model.reference import Reference

__all__ = [
    "CONTAINERD_NAME_ANNOTATION",
    "MAX_BLOB_BYTES",
    "MAX_MANIFEST_BYTES",
    "REF_NAME_ANNOTATION",
    "OCILayout",
    "OCIReference",
    "parse_oci_reference",
]

#: The index.json annotation naming an entry (skopeo writes the tag; some tools a full name).
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
#: containerd's ``ctr export`` also records the full image name here.
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"
#: The most bytes read for index.json, a manifest or an index (as for registries: 4 MiB).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: The most bytes read for any other blob (a config, say): 16 MiB.
MAX_BLOB_BYTES = 16 * 1024 * 1024

_LAYOUT_FILE = "oci-layout"
_INDEX_FILE = "index.json"
_SCHEME = "oci:"
#: A tag as distribution/reference spells it (``[\w][\w.-]{0,127}``, ASCII).
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)

# An image's name in a layout: ``org.opencontainers.image.ref.name`` as image-spec annotations.md
# defines it, and as skopeo (containers/image oci/internal) checks it. A tag is one; so is a full
# name with a registry, a port and a tag (``localhost:5000/team/app:2``).
#: letters and digits
_ALPHANUM = r"[A-Za-z0-9]+"
#: what joins them inside a component: one of ``-._:@+``, or ``--``
_SEPARATOR = r"(?:[-._:@+]|--)"
#: a component: alphanumerics joined by separators, starting and ending with one
_COMPONENT = rf"{_ALPHANUM}(?:{_SEPARATOR}{_ALPHANUM})*"
#: components joined by ``/``
_REF_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
#: The digest algorithms ``oci:PATH@ALGORITHM:ENCODED`` names (those regimage can verify).
_DIGEST_ALGORITHMS = (Digest.SHA256, Digest.SHA512)


@dataclass(frozen=True, slots=True, repr=False)
class OCIReference:
    """An image in a layout directory: ``oci:PATH[:NAME|@DIGEST]``; ``tag`` holds the NAME (a tag,
    or a full name such as ``docker.io/library/alpine:3.20``)."""

    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> OCIReference:
        """Parse ``oci:PATH``, ``oci:PATH:NAME`` or ``oci:PATH@DIGEST``.

        skopeo's rule (containers/image ``oci/layout``): the path ends at the first ``:``, so it
        holds none, and the rest is the name, colons and slashes included
        (``oci:dir:localhost:5000/app:2``); ``oci:PATH:`` names no image. The name is an image-spec
        ``ref.name`` (what skopeo accepts) or a tag. regimage also reads
        ``oci:PATH@sha256:…`` (or sha512), an image by digest. Raises InvalidReference.
        """
        if not isinstance(text, str) or not text.startswith(_SCHEME):
            raise InvalidReference(f"an OCI layout reference starts with 'oci:': {text!r}")
        path, _, name = text[len(_SCHEME) :].partition(":")
        tag: str | None = None
        digest: Digest | None = None
        directory, at, algorithm = path.rpartition("@")
        if at and algorithm in _DIGEST_ALGORITHMS:
            try:
                digest = Digest.parse(f"{algorithm}:{name}")
            except InvalidDigest as exc:
                raise InvalidReference(f"invalid digest in {text!r}: {exc}") from exc
            path = directory
        elif name:
            tag = _checked_name(name, text)
        if not path:
            raise InvalidReference(f"an OCI layout reference needs a directory: {text!r}")
        return cls(path, tag, digest)

    def __str__(self) -> str:
        if self.digest is not None:
            return f"{_SCHEME}{self.path}@{self.digest}"
        if self.tag is not None:
            return f"{_SCHEME}{self.path}:{self.tag}"
        return f"{_SCHEME}{self.path}"

    def __repr__(self) -> str:
        return f"<OCIReference({str(self)!r})>"


def parse_oci_reference(text: str) -> OCIReference:
    """``OCIReference.parse(text)``."""
    return OCIReference.parse(text)


class OCILayout:
    """Reads an OCI image layout directory: a :class:`~regimage.content.provider.Provider` and a
    :class:`~regimage.content.provider.Resolver` (the layout is one repository; a
    :class:`~regimage.model.reference.Reference` contributes only its tag or digest)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        max_blob_bytes: int = MAX_BLOB_BYTES,
    ):
        self.path = anyio.Path(path)
        self.max_manifest_bytes = max_manifest_bytes
        self.max_blob_bytes = max_blob_bytes
        self._checked = False

    @classmethod
    def from_reference(cls, reference: OCIReference | str) -> tuple[OCILayout, OCIReference]:
        """The layout an ``oci:`` reference points into, and the parsed reference."""
        ref = OCIReference.parse(reference) if isinstance(reference, str) else reference
        return cls(ref.path), ref

    def __repr__(self) -> str:
        return f"<OCILayout({str(self.path)!r})>"

    # ── Provider ────────────────────────────────────────────────────────────────────────────────

    async def fetch(self, descriptor: Descriptor) -> bytes:
        """The blob ``descriptor`` names, checked against its size, then its digest."""
        digest = descriptor.digest
        media_type = descriptor.media_type
        document = is_index(media_type) or is_manifest(media_type) or is_schema1(media_type)
        check_size(descriptor, self.max_manifest_bytes if document else self.max_blob_bytes)
        if not digest.is_verifiable:
            raise InvalidDigest(
                f"cannot verify {digest}: only sha256 and sha512 blobs can be read from a layout"
            )
        await self._check_layout()
        path = self.path / "blobs" / digest.algorithm / digest.encoded
        data = await self._read(path, descriptor.size, f"blob {digest}")
        if len(data) != descriptor.size:
            raise SizeMismatch(
                f"blob {digest} in {self.path} is {len(data)} bytes, its descriptor says "
                f"{descriptor.size}",
                expected=descriptor.size,
                actual=len(data),
            )
        digest.verify(data)
        return data

    async def read_range(self, descriptor: Descriptor, byte_range: ByteRange) -> bytes:
        """Part of a blob (a :class:`~regimage.content.provider.RangeReader`), its file's size
        checked against the descriptor; a part cannot be checked against the digest."""
        digest = descriptor.digest
        await self._check_layout()
        path = self.path / "blobs" / digest.algorithm / digest.encoded
        what = f"blob {digest}"
        try:
            size = (await path.stat()).st_size
            if size != descriptor.size:
                raise SizeMismatch(
                    f"{what} in {self.path} is {size} bytes, its descriptor says {descriptor.size}",
                    expected=descriptor.size,
                    actual=size,
                )
            first, end = byte_range.bounds(size)
            async with await path.open("rb") as file:
                await file.seek(first)
                return await file.read(end - first)
        except FileNotFoundError:
            raise NotFound(f"{what} not found in the OCI layout {self.path}") from None
        except OSError as exc:
            raise NotFound(f"cannot read {what} in {self.path}: {exc.strerror or exc}") from exc

    # ── Resolver ────────────────────────────────────────────────────────────────────────────────

    async def index(self) -> Index:
        """The layout's ``index.json``."""
        await self._check_layout()
        data = await self._read(self.path / _INDEX_FILE, None, _INDEX_FILE)
        return Index.parse(data, OCI_INDEX)

    async def tags(self) -> list[str]:
        """The names of the layout's entries (``org.opencontainers.image.ref.name``), in order."""
        entries = (await self.index()).manifests
        return [
            e.annotations[REF_NAME_ANNOTATION]
            for e in entries
            if REF_NAME_ANNOTATION in e.annotations
        ]

    async def resolve(self, reference: OCIReference | Reference | str) -> Descriptor:
        """The descriptor of an image of the layout.

        ``reference`` is an ``oci:`` reference, a :class:`Reference` (its tag or digest), a bare
        tag, or a digest. With neither tag nor digest, the layout must hold exactly one image.
        """
        tag, digest = _tag_and_digest(reference)
        entries = (await self.index()).manifests
        if digest is not None:
            return await self._by_digest(entries, digest)
        if tag is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                raise NotFound(f"the OCI layout {self.path} holds no image")
            raise InvalidReference(
                f"the OCI layout {self.path} holds {len(entries)} images: name one with a tag "
                f"({_list(await self.tags())}) or a digest"
            )
        found = [e for e in entries if _names(e, tag)]
        if len(found) > 1:
            raise InvalidDocument(
                f"{self.path}/{_INDEX_FILE} lists {len(found)} entries named {tag!r}"
            )
        if not found:
            raise NotFound(
                f"no image tagged {tag!r} in the OCI layout {self.path} "
                f"(tags: {_list(await self.tags())})",
                reference=tag,
            )
        return found[0]

    def repository(self, reference: OCIReference | Reference | str) -> OCILayout:
        """This layout: it is a single repository."""
        return self

    # ── machinery ───────────────────────────────────────────────────────────────────────────────

    async def _by_digest(self, entries: tuple[Descriptor, ...], digest: Digest) -> Descriptor:
        for entry in entries:
            if entry.digest == digest:
                return entry
        # Not an entry of index.json: any manifest or index stored in blobs/ can be named.
        path = self.path / "blobs" / digest.algorithm / digest.encoded
        data = await self._read(path, None, f"blob {digest}")
        digest.verify(data)
        document = parse_document(data, None)
        return Descriptor(document.media_type, digest, len(data))

    async def _check_layout(self) -> None:
        if self._checked:
            return
        data = await self._read(self.path / _LAYOUT_FILE, None, _LAYOUT_FILE, layout=True)
        obj = loads_object(data, what=_LAYOUT_FILE)
        version = obj.get("imageLayoutVersion")
        if not isinstance(version, str):
            raise InvalidDocument(f"{self.path}/{_LAYOUT_FILE} has no 'imageLayoutVersion' string")
        if version.split(".", 1)[0] != "1":
            raise UnsupportedMediaType(
                f"{self.path} is an OCI layout of version {version!r}; regimage reads version 1"
            )
        self._checked = True

    async def _read(
        self, path: anyio.Path, expected: int | None, what: str, *, layout: bool = False
    ) -> bytes:
        """Read a file, checking its size first (against ``expected``, or the manifest cap)."""
        try:
            size = (await path.stat()).st_size
            if expected is not None and size != expected:
                raise SizeMismatch(
                    f"{what} in {self.path} is {size} bytes, its descriptor says {expected}",
                    expected=expected,
                    actual=size,
                )
            if expected is None and size > self.max_manifest_bytes:
                raise SizeLimitExceeded(
                    f"{what} in {self.path} is {size} bytes, over the "
                    f"{self.max_manifest_bytes}-byte limit",
                    limit=self.max_manifest_bytes,
                )
            return await path.read_bytes()
        except FileNotFoundError:
            if layout:
                raise NotFound(
                    f"{self.path} is not an OCI image layout: it has no {_LAYOUT_FILE} file"
                ) from None
            raise NotFound(f"{what} not found in the OCI layout {self.path}") from None
        except OSError as exc:
            raise NotFound(f"cannot read {what} in {self.path}: {exc.strerror or exc}") from exc


def _checked_name(name: str, text: str) -> str:
    """``name`` if it is an image-spec ref name or a tag, else InvalidReference."""
    if _REF_NAME_RE.fullmatch(name) is None and _TAG_RE.fullmatch(name) is None:
        raise InvalidReference(
            f"invalid tag {name!r} in {text!r}: a tag, or a name such as "
            "'docker.io/library/alpine:3.20' (letters and digits joined by one of '-._:@+' or "
            "'--', in components separated by '/')"
        )
    return name


def _tag_and_digest(reference: OCIReference | Reference | str) -> tuple[str | None, Digest | None]:
    if isinstance(reference, (OCIReference, Reference)):
        return reference.tag, reference.digest
    if reference.startswith(_SCHEME):
        parsed = OCIReference.parse(reference)
        return parsed.tag, parsed.digest
    text = reference.removeprefix("@")
    if text != reference or text.partition(":")[0] in _DIGEST_ALGORITHMS:
        try:
            return None, Digest.parse(text)
        except InvalidDigest as exc:
            raise InvalidReference(f"invalid digest {reference!r}: {exc}") from exc
    return _checked_name(text, reference), None


def _names(entry: Descriptor, tag: str) -> bool:
    if entry.annotations.get(REF_NAME_ANNOTATION) == tag:
        return True
    # A full name (``docker.io/library/x:1``) as containerd records it.
    return ("/" in tag or ":" in tag) and entry.annotations.get(CONTAINERD_NAME_ANNOTATION) == tag


def _list(tags: list[str]) -> str:
    return ", ".join(repr(t) for t in tags) if tags else "none"

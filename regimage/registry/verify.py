"""Checks of what a registry sent against what was promised: digests, sizes and declared types.

Nothing a registry sends is trusted: a document must hash to the digest it was asked by (or that
``Docker-Content-Digest`` claims), a blob must be as long as its descriptor says, and a document's
own ``mediaType`` must agree with the Content-Type it came with. Each check raises the
:mod:`regimage.errors` class that says what was wrong, naming the (redacted) URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import httpx

import regimage.model.mediatypes as mediatypes
from regimage.errors import (
    DigestMismatch,
    InvalidDigest,
    InvalidDocument,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.http.error_mapping import transport_errors
from regimage.http.redaction import redact_url
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import parse_document
from regimage.model.reference import Reference
from regimage.model.schema1 import Schema1Manifest

__all__ = [
    "SCHEMA1_HINT",
    "base_type",
    "check_size",
    "claimed_digest",
    "media_type_of",
    "verified_chunks",
    "verify_digest",
]

SCHEMA1_HINT = (
    "legacy schema1 manifest; regimage reads only Docker schema2 and OCI images: rebuild the "
    "image or copy it with a current tool (docker buildx, skopeo copy) to convert it"
)


def base_type(content_type: str | None) -> str:
    """A Content-Type without its parameters, lower case (``""`` for none)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def verify_digest(digest: Digest, data: bytes, what: str, url: str, reference: str | None) -> None:
    """Raise :class:`DigestMismatch` unless ``data`` hashes to ``digest``."""
    actual = Digest.of(data, digest.algorithm) if digest.is_verifiable else None
    if actual is None:
        digest.verify(data)  # raises InvalidDigest naming the algorithm
        return
    if actual != digest:
        raise DigestMismatch(
            f"{what} does not match its digest: expected {digest}, got {actual}",
            expected=str(digest),
            actual=str(actual),
            url=url,
            reference=reference,
        )


def check_size(descriptor: Descriptor, limit: int, reference: str) -> None:
    """Refuse to fetch what declares more bytes than ``limit``."""
    if descriptor.size > limit:
        raise SizeLimitExceeded(
            f"{descriptor.media_type} {descriptor.digest} declares {descriptor.size} bytes, over "
            f"the {limit}-byte limit; not fetching it",
            limit=limit,
            reference=reference,
        )


def media_type_of(data: bytes, content_type: str | None, ref: Reference) -> str:
    """The document's media type: the Content-Type when it names one, else the JSON's."""
    declared = base_type(content_type)
    if mediatypes.is_index(declared) or mediatypes.is_manifest(declared):
        _check_declared_type(data, declared, ref)
        return declared
    if mediatypes.is_schema1(declared):
        raise UnsupportedMediaType(f"{SCHEMA1_HINT} ({ref})", media_type=declared)
    document = parse_document(data, declared or None)
    if isinstance(document, Schema1Manifest):
        raise UnsupportedMediaType(f"{SCHEMA1_HINT} ({ref})", media_type=document.media_type)
    return document.media_type


def claimed_digest(
    data: bytes, response: httpx.Response, ref: Reference, subject: str, url: str
) -> Digest:
    """The digest of a manifest read by tag (or digest), checked against what was promised: the
    digest asked for, else the registry's ``Docker-Content-Digest`` when it sends one."""
    if ref.digest is not None:
        verify_digest(ref.digest, data, f"{subject} of {ref.name}", url, str(ref))
        return ref.digest
    header = response.headers.get("docker-content-digest")
    if header is None:
        return Digest.of(data)
    try:
        claimed = Digest.parse(header.strip())
    except InvalidDigest:
        actual = Digest.of(data)
        raise DigestMismatch(
            f"{subject} of {ref.name}: the registry's Docker-Content-Digest {header!r} is not "
            f"a valid digest; the content hashes to {actual}",
            expected=header,
            actual=str(actual),
            url=url,
            reference=str(ref),
        ) from None
    actual = Digest.of(data, claimed.algorithm) if claimed.is_verifiable else Digest.of(data)
    if claimed.is_verifiable and actual != claimed:
        raise DigestMismatch(
            f"{subject} of {ref.name} does not match the registry's Docker-Content-Digest: "
            f"header says {claimed}, content hashes to {actual}",
            expected=str(claimed),
            actual=str(actual),
            url=url,
            reference=str(ref),
        )
    return actual


async def verified_chunks(
    response: httpx.Response, descriptor: Descriptor, ref: Reference
) -> AsyncGenerator[bytes, None]:
    """The body of a blob answer, piece by piece; raises at the end (or as soon as it is too
    long) when it is not what ``descriptor`` says."""
    verifier = descriptor.digest.verifier()
    url = redact_url(response.request.url)
    with transport_errors(response.request.url, reference=str(ref)):
        async for chunk in response.aiter_bytes():
            verifier.update(chunk)
            if verifier.length > descriptor.size:
                raise SizeMismatch(
                    f"blob {descriptor.digest} of {ref.name} is longer than the "
                    f"{descriptor.size} bytes its descriptor says",
                    expected=descriptor.size,
                    actual=verifier.length,
                    url=url,
                    reference=str(ref),
                )
            yield chunk
    if verifier.length != descriptor.size:
        raise SizeMismatch(
            f"blob {descriptor.digest} of {ref.name} is {verifier.length} bytes but its "
            f"descriptor says {descriptor.size}",
            expected=descriptor.size,
            actual=verifier.length,
            url=url,
            reference=str(ref),
        )
    actual = verifier.digest()
    if actual != descriptor.digest:
        raise DigestMismatch(
            f"blob {descriptor.digest} of {ref.name} does not match its digest: got {actual}",
            expected=str(descriptor.digest),
            actual=str(actual),
            url=url,
            reference=str(ref),
        )


def _check_declared_type(data: bytes, declared: str, ref: Reference) -> None:
    """Refuse a document whose own ``mediaType`` contradicts the Content-Type it came with (an
    index served as a manifest, or the reverse). A quick look, not the strict parse: documents
    that are not JSON objects are left for the parser to report."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    own = obj.get("mediaType") if isinstance(obj, dict) else None
    if not isinstance(own, str) or own == declared:
        return
    if mediatypes.is_index(own) != mediatypes.is_index(declared) or not (
        mediatypes.is_index(own) or mediatypes.is_manifest(own)
    ):
        raise InvalidDocument(
            f"{ref}: the registry served the document as {declared} but it says it is {own}"
        )

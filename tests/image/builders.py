"""Documents for the image tests, built in memory (no network, no layer ever stored).

Shared by the tests of the walker, the handlers, Image and the content stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from regimage.content.provider import MemoryProvider
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import (
    ATTESTATION_REFERENCE_TYPE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from regimage.model.platform import Platform


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def fake_layer(label: str, size: int = 1000) -> Descriptor:
    """A layer descriptor whose content exists nowhere: fetching it would fail."""
    return Descriptor(OCI_LAYER_GZIP, Digest.of(f"layer {label}".encode()), size)


def add_config(
    provider: MemoryProvider,
    platform: str | None,
    diff_ids: Sequence[Digest] = (),
    *,
    media_type: str = OCI_CONFIG,
) -> Descriptor:
    obj: dict[str, Any] = {"rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}}
    if platform is not None:
        p = Platform.parse(platform)
        obj.update({"os": p.os, "architecture": p.architecture})
        if p.variant:
            obj["variant"] = p.variant
    return provider.add_document(dumps(obj), media_type)


def add_image(
    provider: MemoryProvider,
    platform: str | None,
    layers: Sequence[Descriptor] = (),
    *,
    diff_ids: Sequence[Digest] | None = None,
    declare: bool = True,
    annotations: dict[str, str] | None = None,
) -> Descriptor:
    """An image manifest (and its config); the descriptor declares ``platform`` if ``declare``."""
    if diff_ids is None:
        diff_ids = [Digest.of(b"diff " + str(layer.digest).encode()) for layer in layers]
    config = add_config(provider, platform, diff_ids)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
    }
    desc = provider.add_document(dumps(manifest), OCI_MANIFEST)
    if platform is not None and declare:
        desc = replace(desc, platform=Platform.parse(platform))
    if annotations:
        desc = replace(desc, annotations=annotations)
    return desc


def add_artifact(
    provider: MemoryProvider,
    artifact_type: str,
    blobs: Sequence[Descriptor],
    subject: Descriptor | None = None,
) -> Descriptor:
    empty = provider.add_document(b"{}", OCI_EMPTY)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.to_dict(),
        "layers": [b.to_dict() for b in blobs],
    }
    if subject is not None:
        manifest["subject"] = {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        }
    return provider.add_document(dumps(manifest), OCI_MANIFEST)


def add_attestation(provider: MemoryProvider, attests: Descriptor) -> Descriptor:
    """A buildx attestation manifest entry (platform unknown/unknown) for ``attests``."""
    statement = Descriptor(
        "application/vnd.in-toto+json", Digest.of(b"in-toto " + str(attests.digest).encode()), 700
    )
    config = add_config(provider, None)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [statement.to_dict()],
    }
    desc = provider.add_document(dumps(manifest), OCI_MANIFEST)
    return replace(
        desc,
        platform=Platform("unknown", "unknown"),
        annotations={
            ATTESTATION_REFERENCE_TYPE: "attestation-manifest",
            "vnd.docker.reference.digest": str(attests.digest),
        },
    )


def add_index(
    provider: MemoryProvider, entries: Sequence[Descriptor], *, media_type: str = OCI_INDEX
) -> Descriptor:
    index = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [e.to_dict() for e in entries],
    }
    return provider.add_document(dumps(index), media_type)


def digests(items: Sequence[Descriptor]) -> list[Digest]:
    return [d.digest for d in items]

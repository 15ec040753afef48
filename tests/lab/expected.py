"""What the lab's images are, as the builder made them: the answers regimage must give.

Written from the generated documents only (never from regimage). Sizes follow DESIGN.md §3:

- ``ExpectedPlatform.size``: the index bytes on the path (top index, then any nested index), the
  manifest's bytes, the config size and the layer sizes as declared (a layer listed twice counts
  twice); ``breakdown`` splits it into ``index``/``manifest``/``config``/``layers``.
- ``ExpectedImage.distinct_size``: every distinct digest reachable from the root counted once,
  root included, attestation manifests (and their blobs) included; ``attestation_digests`` names them.

Platform keys are ``os/arch[/variant]`` as the index (or, without a ``platform`` field, the config)
writes them, e.g. ``linux/arm64/v8``. Attestation manifests are keyed
``unknown/unknown@<key of the manifest they attest>``; an artifact (no platform at all) is keyed
``unknown/unknown``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.lab.builder import Blob, ImageIndex, ImageManifest, Node

__all__ = [
    "ARTIFACT_KEY",
    "ATTESTATION_DIGEST",
    "ATTESTATION_TYPE",
    "ExpectedDescriptor",
    "ExpectedImage",
    "ExpectedLayer",
    "ExpectedPlatform",
    "chain_ids",
    "expect_image",
]

ATTESTATION_TYPE = "vnd.docker.reference.type"
ATTESTATION_DIGEST = "vnd.docker.reference.digest"
ARTIFACT_KEY = "unknown/unknown"
#: The platform regimage picks on the hosts the tests run on (and what skopeo picks there).
DEFAULT_HOST_PLATFORM = "linux/amd64"


def chain_ids(diff_ids: Sequence[str]) -> tuple[str, ...]:
    """OCI image-spec config.md: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return tuple(chain)


@dataclass(frozen=True, slots=True)
class ExpectedLayer:
    digest: str
    size: int
    media_type: str
    unpacked_size: int | None = None  # bytes of the uncompressed tar (None: not a tar)


@dataclass(frozen=True, slots=True)
class ExpectedDescriptor:
    """A descriptor as a referrers answer lists it."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExpectedPlatform:
    platform: str  # the key: os/arch[/variant]
    os: str
    architecture: str
    variant: str
    os_version: str
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    config_digest: str
    config_media_type: str
    config_size: int
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    layers: tuple[ExpectedLayer, ...]
    size: int
    breakdown: Mapping[str, int]  # index, manifest, config, layers (sum = size)
    attestation: bool
    index_digests: tuple[str, ...]  # the indexes on the path, top first
    attests: str | None = None  # for an attestation manifest: the manifest digest it attests

    @property
    def layer_count(self) -> int:
        return len(self.layers)


@dataclass(frozen=True, slots=True)
class ExpectedImage:
    name: str  # corpus name, e.g. "oci-index"
    repository: str  # e.g. "public/oci-index"
    tag: str  # the tag the tests use
    digest: str  # of the root document
    media_type: str
    size: int  # root document bytes
    platforms: Mapping[str, ExpectedPlatform]
    default_platform: str | None  # key; what a linux/amd64 host selects
    distinct_size: int
    attestation_digests: tuple[str, ...]
    tags: tuple[str, ...] = ()  # every tag pointing at the root
    repository_tags: tuple[str, ...] = ()  # every tag in the repository, sorted
    subject: str | None = None  # an artifact's subject digest
    referrers: tuple[ExpectedDescriptor, ...] = ()  # manifests whose subject is this root
    referrers_tag: str | None = None  # the OCI 1.1 fallback tag listing them

    @property
    def reference(self) -> str:
        """``repository:tag`` (prefix a registry's host: ``registry.ref(image.reference)``)."""
        return f"{self.repository}:{self.tag}"

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def default(self) -> ExpectedPlatform:
        if self.default_platform is None:
            raise KeyError(f"{self.name} has no default platform")
        return self.platforms[self.default_platform]

    @property
    def is_index(self) -> bool:
        return "index" in self.media_type or "list" in self.media_type

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``dataclasses.asdict`` deep-copies and is 20 times slower)."""
        obj: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        obj["platforms"] = {key: _platform_dict(p) for key, p in self.platforms.items()}
        obj["referrers"] = [
            {
                "media_type": d.media_type,
                "digest": d.digest,
                "size": d.size,
                "artifact_type": d.artifact_type,
                "annotations": dict(d.annotations),
            }
            for d in self.referrers
        ]
        return obj

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> ExpectedImage:
        platforms = {
            key: ExpectedPlatform(
                **{
                    **value,
                    "diff_ids": tuple(value["diff_ids"]),
                    "chain_ids": tuple(value["chain_ids"]),
                    "index_digests": tuple(value["index_digests"]),
                    "layers": tuple(ExpectedLayer(**layer) for layer in value["layers"]),
                }
            )
            for key, value in obj["platforms"].items()
        }
        return cls(
            **{
                **obj,
                "platforms": platforms,
                "attestation_digests": tuple(obj["attestation_digests"]),
                "tags": tuple(obj["tags"]),
                "repository_tags": tuple(obj["repository_tags"]),
                "referrers": tuple(ExpectedDescriptor(**d) for d in obj["referrers"]),
            }
        )


def _platform_dict(platform: ExpectedPlatform) -> dict[str, Any]:
    obj: dict[str, Any] = {name: getattr(platform, name) for name in platform.__dataclass_fields__}
    obj["layers"] = [
        {
            "digest": x.digest,
            "size": x.size,
            "media_type": x.media_type,
            "unpacked_size": x.unpacked_size,
        }
        for x in platform.layers
    ]
    obj["breakdown"] = dict(platform.breakdown)
    return obj


def _platform_of(
    target: ImageManifest, declared: Mapping[str, str] | None
) -> tuple[str, str, str, str]:
    if declared is not None:
        return (
            declared.get("os", ""),
            declared.get("architecture", ""),
            declared.get("variant", ""),
            declared.get("os.version", ""),
        )
    if target.platform is not None:
        p = target.platform
        return p.os, p.architecture, p.variant, p.os_version
    return "", "", "", ""


def _expect_manifest(
    target: ImageManifest,
    key: str,
    platform: tuple[str, str, str, str],
    indexes: Sequence[Blob],
    *,
    attests: str | None,
) -> ExpectedPlatform:
    config = json.loads(target.config.data)
    diff_ids = tuple(config.get("rootfs", {}).get("diff_ids", ()))
    if diff_ids != tuple(layer.diff_id for layer in target.layers) and diff_ids:
        raise AssertionError(f"{key}: config diff_ids disagree with the layers the builder made")
    layers = tuple(
        ExpectedLayer(x.blob.digest, x.blob.size, x.blob.media_type, x.unpacked_size)
        for x in target.layers
    )
    breakdown = {
        "index": sum(doc.size for doc in indexes),
        "manifest": target.doc.size,
        "config": target.config.size,
        "layers": sum(layer.size for layer in layers),
    }
    return ExpectedPlatform(
        platform=key,
        os=platform[0],
        architecture=platform[1],
        variant=platform[2],
        os_version=platform[3],
        manifest_digest=target.doc.digest,
        manifest_media_type=target.doc.media_type,
        manifest_size=target.doc.size,
        config_digest=target.config.digest,
        config_media_type=target.config.media_type,
        config_size=target.config.size,
        diff_ids=diff_ids,
        chain_ids=chain_ids(diff_ids),
        layers=layers,
        size=sum(breakdown.values()),
        breakdown=breakdown,
        attestation=attests is not None,
        index_digests=tuple(doc.digest for doc in indexes),
        attests=attests,
    )


def _platforms(node: Node, indexes: tuple[Blob, ...], out: dict[str, ExpectedPlatform]) -> None:
    if isinstance(node, ImageManifest):
        platform = _platform_of(node, None)
        key = "/".join(p for p in platform[:3] if p) or ARTIFACT_KEY
        out[key] = _expect_manifest(node, key, platform, indexes, attests=None)
        return
    path = (*indexes, node.doc)
    keys: dict[str, str] = {}  # manifest digest → key, for naming attestations
    attestations = []
    for entry in node.entries:
        if entry.annotations.get(ATTESTATION_TYPE) == "attestation-manifest":
            attestations.append(entry)
        elif isinstance(entry.target, ImageIndex):
            _platforms(entry.target, path, out)
        else:
            declared = entry.platform.to_dict() if entry.platform is not None else None
            platform = _platform_of(entry.target, declared)
            key = "/".join(p for p in platform[:3] if p)
            if key in out:
                raise AssertionError(f"two manifests for platform {key} in one corpus image")
            out[key] = _expect_manifest(entry.target, key, platform, path, attests=None)
            keys[entry.target.doc.digest] = key
    for entry in attestations:
        assert isinstance(entry.target, ImageManifest)
        subject = entry.annotations[ATTESTATION_DIGEST]
        key = f"{ARTIFACT_KEY}@{keys[subject]}"
        platform = _platform_of(entry.target, entry.platform.to_dict() if entry.platform else None)
        out[key] = _expect_manifest(entry.target, key, platform, path, attests=subject)


def _reachable(node: Node, seen: dict[str, int]) -> None:
    seen[node.doc.digest] = node.doc.size
    if isinstance(node, ImageIndex):
        for entry in node.entries:
            _reachable(entry.target, seen)
    else:
        seen[node.config.digest] = node.config.size
        for layer in node.layers:
            seen[layer.blob.digest] = layer.blob.size


def _attestation_digests(node: Node) -> list[str]:
    found: list[str] = []
    if isinstance(node, ImageIndex):
        for entry in node.entries:
            if entry.annotations.get(ATTESTATION_TYPE) == "attestation-manifest":
                found.append(entry.target.doc.digest)
            found.extend(_attestation_digests(entry.target))
    return found


def expect_image(
    name: str,
    repository: str,
    root: Node,
    tags: Sequence[str],
    *,
    repository_tags: Sequence[str] = (),
    referrers: Sequence[ExpectedDescriptor] = (),
    referrers_tag: str | None = None,
) -> ExpectedImage:
    """The expected answers for ``root`` pushed into ``repository`` with ``tags``."""
    platforms: dict[str, ExpectedPlatform] = {}
    _platforms(root, (), platforms)
    seen: dict[str, int] = {}
    _reachable(root, seen)
    real = [key for key, p in platforms.items() if not p.attestation]
    default = (
        DEFAULT_HOST_PLATFORM if DEFAULT_HOST_PLATFORM in real else (real[0] if real else None)
    )
    subject = root.subject.digest if isinstance(root, ImageManifest) and root.subject else None
    return ExpectedImage(
        name=name,
        repository=repository,
        tag=tags[0],
        digest=root.doc.digest,
        media_type=root.doc.media_type,
        size=root.doc.size,
        platforms=platforms,
        default_platform=default,
        distinct_size=sum(seen.values()),
        attestation_digests=tuple(_attestation_digests(root)),
        tags=tuple(tags),
        repository_tags=tuple(sorted(repository_tags or tags)),
        subject=subject,
        referrers=tuple(referrers),
        referrers_tag=referrers_tag,
    )

"""Media types of OCI and Docker documents and blobs, and predicates over them.

Sources: OCI image-spec v1.1 (media-types.md, manifest.md, image-index.md) and the Docker
distribution "Image Manifest Version 2, Schema 2" and "Schema 1" specs.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ATTESTATION_REFERENCE_TYPE",
    "ATTESTATION_REFERENCE_TYPE_VALUE",
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_PLUGIN_CONFIG",
    "DOCKER_SCHEMA1_MANIFEST",
    "DOCKER_SCHEMA1_SIGNED_MANIFEST",
    "MANIFEST_ACCEPT",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_NONDISTRIBUTABLE",
    "OCI_LAYER_NONDISTRIBUTABLE_GZIP",
    "OCI_LAYER_NONDISTRIBUTABLE_ZSTD",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "is_attestation",
    "is_config",
    "is_index",
    "is_layer",
    "is_manifest",
    "is_schema1",
]

# ── OCI image-spec ─────────────────────────────────────────────────────────────────────────────────
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
#: Non-distributable layers are deprecated in image-spec 1.1 but still served.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# ── Docker distribution ────────────────────────────────────────────────────────────────────────────
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"

#: buildx marks its attestation manifests in an index with this annotation and value.
ATTESTATION_REFERENCE_TYPE = "vnd.docker.reference.type"
ATTESTATION_REFERENCE_TYPE_VALUE = "attestation-manifest"

#: The Accept header for manifest requests, most preferred first. Not optional: Distribution 2.8
#: answers 404 for an OCI manifest whose type is not accepted, silently picks linux/amd64 from a
#: list when only schema2 is accepted, and converts to schema1 when nothing is (measured 2025).
#: Schema1 is accepted only so that we can say "legacy schema1" instead of "not found".
MANIFEST_ACCEPT: tuple[str, ...] = (
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED_MANIFEST,
    DOCKER_SCHEMA1_MANIFEST,
)

_INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_SCHEMA1 = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST})
_CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
_LAYERS = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_LAYER,
        DOCKER_FOREIGN_LAYER,
        # Docker's uncompressed layer type, as written by some tools.
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)


def _base(media_type: str) -> str:
    """The media type without parameters (``; charset=utf-8``), lower-cased."""
    return media_type.split(";", 1)[0].strip().lower()


def is_index(media_type: str) -> bool:
    """An OCI image index or a Docker manifest list."""
    return _base(media_type) in _INDEXES


def is_manifest(media_type: str) -> bool:
    """An OCI image manifest or a Docker schema2 manifest (schema1 is :func:`is_schema1`)."""
    return _base(media_type) in _MANIFESTS


def is_schema1(media_type: str) -> bool:
    """A legacy Docker schema1 manifest, signed or not."""
    return _base(media_type) in _SCHEMA1


def is_config(media_type: str) -> bool:
    """An image config (OCI or Docker) that carries ``rootfs.diff_ids``."""
    return _base(media_type) in _CONFIGS


def is_layer(media_type: str) -> bool:
    """A filesystem layer, compressed or not, distributable or not."""
    return _base(media_type) in _LAYERS


def is_attestation(annotations: Mapping[str, str] | None) -> bool:
    """Whether an index entry's annotations mark it as a buildx attestation manifest."""
    if not annotations:
        return False
    return annotations.get(ATTESTATION_REFERENCE_TYPE) == ATTESTATION_REFERENCE_TYPE_VALUE

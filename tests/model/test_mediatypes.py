"""regimage.model.mediatypes: the constants and the predicates over them."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from regimage.model import mediatypes as mt

#: Every media type constant and the one predicate (if any) that holds for it.
KINDS: list[tuple[str, str | None]] = [
    (mt.OCI_INDEX, "index"),
    (mt.DOCKER_MANIFEST_LIST, "index"),
    (mt.OCI_MANIFEST, "manifest"),
    (mt.DOCKER_MANIFEST, "manifest"),
    (mt.DOCKER_SCHEMA1_MANIFEST, "schema1"),
    (mt.DOCKER_SCHEMA1_SIGNED_MANIFEST, "schema1"),
    (mt.OCI_CONFIG, "config"),
    (mt.DOCKER_CONFIG, "config"),
    (mt.OCI_LAYER, "layer"),
    (mt.OCI_LAYER_GZIP, "layer"),
    (mt.OCI_LAYER_ZSTD, "layer"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE, "layer"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP, "layer"),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, "layer"),
    (mt.DOCKER_LAYER, "layer"),
    (mt.DOCKER_FOREIGN_LAYER, "layer"),
    ("application/vnd.docker.image.rootfs.diff.tar", "layer"),
    (mt.OCI_EMPTY, None),
    (mt.DOCKER_PLUGIN_CONFIG, None),
    ("application/vnd.oci.artifact.manifest.v1+json", None),
    ("application/vnd.cncf.helm.config.v1+json", None),
    ("application/json", None),
    ("", None),
]

PREDICATES = {
    "index": mt.is_index,
    "manifest": mt.is_manifest,
    "schema1": mt.is_schema1,
    "config": mt.is_config,
    "layer": mt.is_layer,
}


@pytest.mark.parametrize(("media_type", "kind"), KINDS)
def test_exactly_one_predicate_holds(media_type: str, kind: str | None) -> None:
    holding = {name for name, predicate in PREDICATES.items() if predicate(media_type)}
    assert holding == ({kind} if kind else set())


@pytest.mark.parametrize(
    "spelling",
    [
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        "  application/vnd.oci.image.manifest.v1+json  ",
        "Application/VND.OCI.Image.Manifest.V1+JSON",
        "application/vnd.oci.image.manifest.v1+json;",
    ],
)
def test_parameters_case_and_space_are_ignored(spelling: str) -> None:
    assert mt.is_manifest(spelling)
    assert not mt.is_index(spelling)


def test_constants_are_the_spec_strings() -> None:
    assert mt.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert mt.OCI_MANIFEST == "application/vnd.oci.image.manifest.v1+json"
    assert mt.OCI_CONFIG == "application/vnd.oci.image.config.v1+json"
    assert mt.OCI_EMPTY == "application/vnd.oci.empty.v1+json"
    assert mt.DOCKER_MANIFEST_LIST == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert mt.DOCKER_MANIFEST == "application/vnd.docker.distribution.manifest.v2+json"
    assert mt.DOCKER_CONFIG == "application/vnd.docker.container.image.v1+json"
    assert mt.DOCKER_LAYER == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert mt.DOCKER_SCHEMA1_SIGNED_MANIFEST == (
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
    )


def test_manifest_accept_order() -> None:
    # Measured: Distribution 2.8 needs every type listed (DESIGN.md §4); OCI first.
    assert mt.MANIFEST_ACCEPT == (
        mt.OCI_INDEX,
        mt.OCI_MANIFEST,
        mt.DOCKER_MANIFEST_LIST,
        mt.DOCKER_MANIFEST,
        mt.DOCKER_SCHEMA1_SIGNED_MANIFEST,
        mt.DOCKER_SCHEMA1_MANIFEST,
    )


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"vnd.docker.reference.type": "attestation-manifest"}, True),
        (MappingProxyType({"vnd.docker.reference.type": "attestation-manifest"}), True),
        ({"vnd.docker.reference.type": "something-else"}, False),
        ({"vnd.docker.reference.digest": "sha256:" + "0" * 64}, False),
        ({}, False),
        (None, False),
    ],
)
def test_is_attestation(annotations: dict[str, str] | None, expected: bool) -> None:
    assert mt.is_attestation(annotations) is expected


def test_all_is_sorted_and_complete() -> None:
    public = {
        name for name in vars(mt) if not name.startswith("_") and (name.isupper() or "is_" in name)
    }
    assert sorted(mt.__all__) == mt.__all__
    assert set(mt.__all__) == public

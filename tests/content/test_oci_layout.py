"""OCI image layout directories: references, resolving, verified reads, and Image over a layout."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from regimage.content.oci_layout import (
    REF_NAME_ANNOTATION,
    OCILayout,
    OCIReference,
    parse_oci_reference,
)
from regimage.content.provider import MemoryProvider, Resolver
from regimage.errors import (
    DigestMismatch,
    InvalidDigest,
    InvalidDocument,
    InvalidReference,
    NotFound,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from regimage.model.platform import Platform
from regimage.model.reference import Reference
from tests.image.builders import add_image, add_index, fake_layer

pytestmark = pytest.mark.anyio


def write_layout(
    directory: Path,
    blobs: Mapping[Digest, bytes],
    entries: Sequence[Descriptor],
    *,
    version: str = "1.0.0",
) -> Path:
    """An OCI layout holding ``blobs`` whose index.json lists ``entries``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": version}))
    index = {"schemaVersion": 2, "manifests": [e.to_dict() for e in entries]}
    (directory / "index.json").write_text(json.dumps(index))
    for digest, data in blobs.items():
        path = directory / "blobs" / digest.algorithm / digest.encoded
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory


def tagged(descriptor: Descriptor, tag: str) -> Descriptor:
    return replace(descriptor, annotations={REF_NAME_ANNOTATION: tag})


@pytest.fixture
def store() -> MemoryProvider:
    return MemoryProvider()


@pytest.fixture
def layout(tmp_path: Path, store: MemoryProvider) -> tuple[OCILayout, dict[str, Descriptor]]:
    made = {
        "amd64": add_image(store, "linux/amd64", [fake_layer("a", 10)]),
        "arm64": add_image(store, "linux/arm64", [fake_layer("b", 20)]),
    }
    made["index"] = add_index(store, [made["amd64"], made["arm64"]])
    entries = [tagged(made["index"], "v1"), tagged(made["arm64"], "arm-only")]
    return OCILayout(write_layout(tmp_path / "layout", store.blobs, entries)), made


# ── references ─────────────────────────────────────────────────────────────────────────────────────


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "path", "tag", "digest"),
    [
        ("oci:./dir", "./dir", None, None),
        ("oci:./dir:v1.2", "./dir", "v1.2", None),
        ("oci:/tmp/x:latest", "/tmp/x", "latest", None),
        (f"oci:dir@{DIGEST}", "dir", None, DIGEST),
        (f"oci:dir@sha512:{'b' * 128}", "dir", None, f"sha512:{'b' * 128}"),
        # skopeo's rule: the path ends at the first colon, the name is the rest (issue #17).
        ("oci:/tmp/a:b/c", "/tmp/a", "b/c", None),
        ("oci:dir:docker.io/library/alpine:3.20", "dir", "docker.io/library/alpine:3.20", None),
        ("oci:dir:localhost:5000/team/app:2", "dir", "localhost:5000/team/app:2", None),
        (f"oci:dir:app@{DIGEST}", "dir", f"app@{DIGEST}", None),  # a name, as skopeo reads it
        ("oci:dir:", "dir", None, None),  # names no image, as for skopeo
        ("oci:dir:v1_", "dir", "v1_", None),  # a tag, though no ref name
        ("oci:a@b:v1", "a@b", "v1", None),  # '@' in a path, before no digest algorithm
    ],
)
def test_parse_oci_reference(text: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_oci_reference(text)
    assert (ref.path, ref.tag, None if ref.digest is None else str(ref.digest)) == (
        path,
        tag,
        digest,
    )
    assert str(OCIReference.parse(str(ref))) == str(ref)
    assert repr(ref) == f"<OCIReference({str(ref)!r})>"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("docker://x", "starts with 'oci:'"),
        ("oci:", "needs a directory"),
        ("oci::v1", "needs a directory"),
        ("oci:dir:-bad", "invalid tag '-bad'"),
        ("oci:dir:a//b", "invalid tag 'a//b'"),
        ("oci:dir:a:", "invalid tag 'a:'"),
        ("oci:dir:a b", "invalid tag 'a b'"),
        ("oci:dir@sha256:abc", "invalid digest"),
        ("oci:dir@sha512:abc", "invalid digest"),
    ],
)
def test_bad_oci_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        OCIReference.parse(text)


# ── resolving ──────────────────────────────────────────────────────────────────────────────────────


async def test_resolve_by_tag_digest_and_reference(
    layout: tuple[OCILayout, dict[str, Descriptor]],
) -> None:
    oci, made = layout
    assert isinstance(oci, Resolver)
    assert (await oci.resolve("v1")).digest == made["index"].digest
    assert (await oci.resolve(f"oci:{oci.path}:arm-only")).digest == made["arm64"].digest
    assert (await oci.resolve(Reference.parse("anything/at-all:arm-only"))).digest == made[
        "arm64"
    ].digest
    by_digest = await oci.resolve(f"@{made['index'].digest}")
    assert by_digest.annotations == {REF_NAME_ANNOTATION: "v1"}
    # A manifest that is stored but not listed in index.json: its type is read from it.
    inner = await oci.resolve(str(made["amd64"].digest))
    assert inner == Descriptor(OCI_MANIFEST, made["amd64"].digest, made["amd64"].size)
    assert await oci.tags() == ["v1", "arm-only"]
    assert oci.repository(Reference.parse("x")) is oci


async def test_resolve_names_with_colons(tmp_path: Path, store: MemoryProvider) -> None:
    # buildx, skopeo and ``ctr export`` name images in a layout by a full name as well as a tag.
    amd64 = add_image(store, "linux/amd64", [fake_layer("a")])
    arm64 = add_image(store, "linux/arm64", [fake_layer("b")])
    entries = [tagged(amd64, "docker.io/library/app:1.0"), tagged(arm64, "localhost:5000/app:2")]
    oci = OCILayout(write_layout(tmp_path, store.blobs, entries))
    assert (await oci.resolve(f"oci:{tmp_path}:docker.io/library/app:1.0")).digest == amd64.digest
    assert (await oci.resolve("localhost:5000/app:2")).digest == arm64.digest
    assert (await oci.resolve(f"sha256:{arm64.digest.encoded}")).digest == arm64.digest
    assert await oci.tags() == ["docker.io/library/app:1.0", "localhost:5000/app:2"]
    with pytest.raises(NotFound, match=r"no image tagged 'docker\.io/library/app:9'"):
        await oci.resolve(f"oci:{tmp_path}:docker.io/library/app:9")
    with pytest.raises(InvalidReference, match="invalid digest"):
        await oci.resolve("sha256:abc")


async def test_resolve_errors(layout: tuple[OCILayout, dict[str, Descriptor]]) -> None:
    oci, _ = layout
    with pytest.raises(NotFound, match=r"no image tagged 'v9' .* \(tags: 'v1', 'arm-only'\)"):
        await oci.resolve("v9")
    with pytest.raises(InvalidReference, match="holds 2 images: name one with a tag"):
        await oci.resolve(OCIReference("x"))
    with pytest.raises(NotFound, match="not found in the OCI layout"):
        await oci.resolve(str(Digest.of(b"absent")))
    with pytest.raises(InvalidReference, match="invalid tag"):
        await oci.resolve("no good")


async def test_a_single_image_needs_no_tag(tmp_path: Path, store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    oci = OCILayout(write_layout(tmp_path, store.blobs, [manifest]))
    assert await oci.resolve(OCIReference(str(tmp_path))) == manifest
    empty = OCILayout(write_layout(tmp_path / "empty", {}, []))
    with pytest.raises(NotFound, match="holds no image"):
        await empty.resolve(OCIReference("x"))


async def test_duplicate_names_are_refused(tmp_path: Path, store: MemoryProvider) -> None:
    a = add_image(store, "linux/amd64", [fake_layer("a")])
    b = add_image(store, "linux/arm64", [fake_layer("b")])
    oci = OCILayout(write_layout(tmp_path, store.blobs, [tagged(a, "v1"), tagged(b, "v1")]))
    with pytest.raises(InvalidDocument, match="lists 2 entries named 'v1'"):
        await oci.resolve("v1")


async def test_a_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="is not an OCI image layout: it has no oci-layout file"):
        await OCILayout(tmp_path).resolve("v1")
    write_layout(tmp_path / "future", {}, [], version="2.0.0")
    with pytest.raises(UnsupportedMediaType, match=r"of version '2\.0\.0'"):
        await OCILayout(tmp_path / "future").index()


# ── reading ────────────────────────────────────────────────────────────────────────────────────────


async def test_fetch_checks_size_and_digest(tmp_path: Path) -> None:
    data = b'{"rootfs":{"type":"layers","diff_ids":[]}}'
    digest = Digest.of(data)
    root = write_layout(tmp_path, {digest: data}, [])
    oci = OCILayout(root)
    good = Descriptor(OCI_CONFIG, digest, len(data))
    assert await oci.fetch(good) == data
    with pytest.raises(SizeMismatch, match=f"is {len(data)} bytes, its descriptor says 5"):
        await oci.fetch(replace(good, size=5))
    (root / "blobs" / "sha256" / digest.encoded).write_bytes(data.replace(b"[]", b"{}"))
    with pytest.raises(DigestMismatch):
        await oci.fetch(good)
    with pytest.raises(NotFound, match="not found in the OCI layout"):
        await oci.fetch(Descriptor(OCI_CONFIG, Digest.of(b"x"), 1))
    with pytest.raises(InvalidDigest, match="cannot verify"):
        await oci.fetch(Descriptor(OCI_CONFIG, Digest.parse("md5:abc"), 1))


async def test_fetch_is_bounded_before_reading(tmp_path: Path) -> None:
    oci = OCILayout(write_layout(tmp_path, {}, []), max_manifest_bytes=100, max_blob_bytes=1000)
    with pytest.raises(SizeLimitExceeded, match="over the 100-byte limit"):
        await oci.fetch(Descriptor(OCI_INDEX, Digest.of(b"x"), 101))
    with pytest.raises(SizeLimitExceeded, match="over the 1000-byte limit"):
        await oci.fetch(Descriptor(OCI_CONFIG, Digest.of(b"x"), 1001))
    (tmp_path / "index.json").write_bytes(b" " * 101)
    with pytest.raises(SizeLimitExceeded, match=r"index\.json .* is 101 bytes, over the 100-byte"):
        await oci.index()


async def test_image_over_a_layout(layout: tuple[OCILayout, dict[str, Descriptor]]) -> None:
    oci, made = layout
    img = await Image.resolve(Reference.parse("layout/app:v1"), oci, platform="linux/arm64")
    selected = await img.manifest()
    assert selected.descriptor.digest == made["arm64"].digest
    size = await img.size()
    assert (
        size.total == made["index"].size + made["arm64"].size + selected.manifest.config.size + 20
    )
    assert await img.platforms() == [Platform("linux", "amd64"), Platform("linux", "arm64")]
    layout_img = Image(f"oci:{oci.path}:v1", await oci.resolve("v1"), oci)
    assert (await layout_img.with_platform("linux/amd64").size()).layers == 10
    opened, ref = OCILayout.from_reference(f"oci:{oci.path}:arm-only")
    assert (await opened.resolve(ref)).digest == made["arm64"].digest
    assert repr(opened) == f"<OCILayout({str(oci.path)!r})>"

"""The provider protocols and the in-memory provider (which also resolves and lists referrers)."""

from __future__ import annotations

import pytest

from regimage.content.provider import (
    MemoryProvider,
    Provider,
    ReferrersProvider,
    Resolver,
    check_size,
)
from regimage.errors import DigestMismatch, NotFound, SizeLimitExceeded, SizeMismatch
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from regimage.model.reference import Reference
from tests.image.builders import add_artifact, add_image, add_index, dumps, fake_layer

pytestmark = pytest.mark.anyio


async def test_fetch_returns_verified_bytes_and_counts() -> None:
    store = MemoryProvider()
    digest = store.add(b"hello")
    assert digest == Digest.of(b"hello")
    assert await store.fetch(Descriptor(OCI_CONFIG, digest, 5)) == b"hello"
    assert store.fetched == [digest]
    assert digest in store
    assert Digest.of(b"other") not in store


async def test_fetch_refuses_absent_content_and_wrong_sizes() -> None:
    store = MemoryProvider([b"hello"])
    with pytest.raises(NotFound, match="not found in memory provider"):
        await store.fetch(Descriptor(OCI_CONFIG, Digest.of(b"nope"), 4))
    with pytest.raises(SizeMismatch, match="is 5 bytes, descriptor says 6") as caught:
        await store.fetch(Descriptor(OCI_CONFIG, Digest.of(b"hello"), 6))
    assert (caught.value.expected, caught.value.actual) == (6, 5)
    assert MemoryProvider().fetched == []


def test_a_mapping_is_verified() -> None:
    with pytest.raises(DigestMismatch):
        MemoryProvider({Digest.of(b"a"): b"b"})
    assert Digest.of(b"a") in MemoryProvider({Digest.of(b"a"): b"a"})


def test_check_size() -> None:
    check_size(Descriptor(OCI_MANIFEST, Digest.of(b""), 10), 10)
    with pytest.raises(SizeLimitExceeded, match="declares 11 bytes, over the 10-byte limit"):
        check_size(Descriptor(OCI_MANIFEST, Digest.of(b""), 11), 10)


def test_memory_provider_satisfies_every_protocol() -> None:
    store = MemoryProvider()
    assert isinstance(store, Provider)
    assert isinstance(store, Resolver)
    assert isinstance(store, ReferrersProvider)

    class FetchOnly:
        async def fetch(self, descriptor: Descriptor) -> bytes:
            return b""

    assert isinstance(FetchOnly(), Provider)
    assert not isinstance(FetchOnly(), Resolver)
    assert not isinstance(FetchOnly(), ReferrersProvider)


async def test_resolve_by_tag_and_digest() -> None:
    store = MemoryProvider()
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    root = add_index(store, [manifest])
    store.tag("v1", root)
    assert await store.resolve(Reference.parse("example.com/x:v1")) == root
    by_digest = await store.resolve(Reference.parse(f"example.com/x@{manifest.digest}"))
    assert by_digest == Descriptor(OCI_MANIFEST, manifest.digest, manifest.size)
    assert store.repository(Reference.parse("example.com/x:v1")) is store
    with pytest.raises(NotFound, match="tag 'v2' not found"):
        await store.resolve(Reference.parse("example.com/x:v2"))
    with pytest.raises(NotFound, match="not found in memory provider"):
        await store.resolve(Reference.parse(f"example.com/x@{Digest.of(b'gone')}"))


async def test_resolve_by_digest_detects_an_untyped_document() -> None:
    index = dumps({"schemaVersion": 2, "manifests": []})
    store = MemoryProvider([index])
    found = await store.resolve(Reference.parse(f"example.com/x@{Digest.of(index)}"))
    assert found.media_type == OCI_INDEX


async def test_referrers_by_subject_and_type() -> None:
    store = MemoryProvider()
    subject = add_image(store, "linux/amd64", [fake_layer("a")])
    other = add_image(store, "linux/arm64", [fake_layer("b")])
    sbom = add_artifact(store, "application/spdx+json", [fake_layer("s")], subject=subject)
    add_artifact(store, "application/spdx+json", [fake_layer("t")], subject=other)
    add_artifact(store, "application/spdx+json", [fake_layer("u")])
    found = await store.referrers(subject)
    assert found == [
        Descriptor(OCI_MANIFEST, sbom.digest, sbom.size, artifact_type="application/spdx+json")
    ]
    assert await store.referrers(subject, "application/vnd.dev.cosign") == []

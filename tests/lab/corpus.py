"""The lab's corpus: which images live in which repositories, and the answers expected of them.

Every corpus repository is ``public/<name>`` (anonymous pull on the token registry) and exists on
all three registries with the same digests; ``private/secret`` exists on the token and TLS
registries only. The batch (``public/batch-000``…``batch-199``, ``public/many-tags`` with 200 tags)
is for the benchmark and is seeded on request only.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.lab import builder as b
from tests.lab.builder import IndexEntry, Layer, Node, Platform
from tests.lab.expected import (
    ATTESTATION_DIGEST,
    ATTESTATION_TYPE,
    ExpectedDescriptor,
    ExpectedImage,
    expect_image,
)

__all__ = [
    "BATCH_SIZE",
    "MANY_TAGS",
    "TAGS",
    "Corpus",
    "Push",
    "RepositoryPlan",
    "batch",
    "corpus",
]

#: Tags every corpus image carries; ExpectedImage.tag is the first.
TAGS = ("v1", "latest")
BATCH_SIZE = 200
MANY_TAGS = 200
SBOM_TYPE = "application/spdx+json"

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
ARM64_V8 = Platform("linux", "arm64", "v8")
ARM_V7 = Platform("linux", "arm", "v7")
I386 = Platform("linux", "386")
S390X = Platform("linux", "s390x")
WINDOWS = Platform("windows", "amd64", os_version="10.0.20348.1249")
UNKNOWN = Platform("unknown", "unknown")


@dataclass(frozen=True, slots=True)
class Push:
    root: Node
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    """What to push into one repository, in order (one repository is pushed by one worker)."""

    repository: str
    pushes: tuple[Push, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(sorted({tag for push in self.pushes for tag in push.tags}))


@dataclass(frozen=True, slots=True)
class Corpus:
    images: dict[str, ExpectedImage]
    plans: tuple[RepositoryPlan, ...]


# ── building blocks ────────────────────────────────────────────────────────────────────────────────


def _files(name: str, label: str, count: int = 2) -> list[tuple[str, bytes]]:
    """A few small real files, different for every (image, layer)."""
    files = [
        (
            f"usr/share/regimage-lab/{name}/{label}.txt",
            f"regimage lab: {name}, layer {label}\n".encode(),
        ),
        (f"usr/bin/{name}-{label}", f"#!/bin/sh\necho 'hello from {name} {label}'\n".encode()),
        (f"etc/regimage-lab/{name}-{label}.conf", b"enabled = true\n" * 8),
    ]
    return files[:count]


def _base_layer(os_name: str, arch: str) -> Layer:
    release = f'NAME="regimage lab"\nID=lab\nVERSION_ID="1"\nARCH="{arch}"\n'.encode()
    return b.layer(
        [
            ("etc/os-release", release),
            ("etc/hostname", b"lab\n"),
            ("bin/sh", f"#!/lab/{os_name}/{arch}/sh\n".encode()),
        ]
    )


def _image(
    name: str,
    platform: Platform,
    layers: Sequence[Layer],
    *,
    docker: bool = False,
    empty_every: int = 0,
    labels: dict[str, str] | None = None,
) -> b.ImageManifest:
    """A runnable-looking image: one history entry per layer, and empty ones (ENV, LABEL, CMD)."""
    history: list[tuple[str, bool]] = []
    for i, _ in enumerate(layers):
        if empty_every and i % empty_every == 0:
            history.append((f"ENV STEP={i}", True))
        history.append((f"/bin/sh -c #(nop) ADD file:{name}-{i} in /", False))
    history.append((f"LABEL org.opencontainers.image.title={name}", True))
    history.append(('CMD ["/bin/sh"]', True))
    config = b.image_config(
        platform,
        layers,
        history,
        labels={"org.opencontainers.image.title": name, **(labels or {})},
    )
    if docker:
        return b.manifest(
            b.config_blob(config, b.DOCKER_CONFIG),
            layers,
            media_type=b.DOCKER_MANIFEST,
            platform=platform,
        )
    return b.manifest(b.config_blob(config), layers, platform=platform)


def _docker_layers(layers: Sequence[Layer]) -> list[Layer]:
    return [
        Layer(b.Blob.of(b.DOCKER_LAYER, x.blob.data), x.diff_id, x.unpacked_size) for x in layers
    ]


# ── the corpus images ──────────────────────────────────────────────────────────────────────────────


def _oci_single() -> b.ImageManifest:
    return _image(
        "oci-single",
        AMD64,
        [
            _base_layer("linux", "amd64"),
            b.layer(_files("oci-single", "app")),
            b.layer(_files("oci-single", "data", 3)),
        ],
    )


def _docker_schema2() -> b.ImageManifest:
    layers = _docker_layers(
        [_base_layer("linux", "amd64"), b.layer(_files("docker-schema2", "app"))]
    )
    return _image("docker-schema2", AMD64, layers, docker=True)


def _oci_index() -> b.ImageIndex:
    shared = b.layer(
        _files("oci-index", "shared-docs", 3)
    )  # the same bytes on every linux platform
    entries = []
    for platform in (AMD64, ARM64_V8, ARM_V7, I386):
        arch = "/".join(p for p in (platform.architecture, platform.variant) if p)
        layers = [_base_layer("linux", arch), shared, b.layer(_files("oci-index", f"app-{arch}"))]
        entries.append(IndexEntry(_image("oci-index", platform, layers), platform))
    windows_layers = [
        b.layer(
            [
                ("Files/License.txt", b"regimage lab windows base\n"),
                ("Hives/DefaultUser", b"\0" * 64),
            ]
        ),
        b.layer(_files("oci-index", "app-windows")),
    ]
    entries.append(IndexEntry(_image("oci-index", WINDOWS, windows_layers), WINDOWS))
    return b.index(entries, annotations={"org.opencontainers.image.created": b.FIXED_CREATED})


def _docker_list() -> b.ImageIndex:
    entries = []
    for platform in (AMD64, ARM64):
        layers = _docker_layers(
            [
                _base_layer("linux", platform.architecture),
                b.layer(_files("docker-list", platform.architecture)),
            ]
        )
        entries.append(IndexEntry(_image("docker-list", platform, layers, docker=True), platform))
    return b.index(entries, media_type=b.DOCKER_LIST)


def _attestation(subject: b.ImageManifest, name: str) -> b.ImageManifest:
    statements = []
    for predicate in ("https://spdx.dev/Document", "https://slsa.dev/provenance/v0.2"):
        statement = {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": predicate,
            "subject": [
                {"name": f"pkg:docker/{name}", "digest": {"sha256": subject.doc.digest[7:]}}
            ],
            "predicate": {"builder": {"id": "regimage-lab"}},
        }
        statements.append(
            (predicate, b.raw_layer(b.IN_TOTO, json.dumps(statement, sort_keys=True).encode()))
        )
    layers = [layer for _, layer in statements]
    config = {
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    return b.manifest(
        b.config_blob(config),
        layers,
        platform=UNKNOWN,
        layer_annotations=[{"in-toto.io/predicate-type": predicate} for predicate, _ in statements],
    )


def _attested() -> b.ImageIndex:
    images = [
        _image(
            "attested",
            p,
            [_base_layer("linux", p.architecture), b.layer(_files("attested", p.architecture))],
        )
        for p in (AMD64, ARM64)
    ]
    entries = [IndexEntry(image, image.platform) for image in images]
    for image in images:
        entries.append(
            IndexEntry(
                _attestation(image, "attested"),
                UNKNOWN,
                {ATTESTATION_DIGEST: image.doc.digest, ATTESTATION_TYPE: "attestation-manifest"},
            )
        )
    return b.index(entries)


def _nested() -> b.ImageIndex:
    inner = b.index(
        [
            IndexEntry(
                _image(
                    "nested",
                    p,
                    [
                        _base_layer("linux", p.architecture),
                        b.layer(_files("nested", p.architecture)),
                    ],
                ),
                p,
            )
            for p in (AMD64, ARM64)
        ]
    )
    direct = _image("nested", S390X, [_base_layer("linux", "s390x")])
    return b.index([IndexEntry(inner, None), IndexEntry(direct, S390X)])


def _many_layers() -> b.ImageManifest:
    layers = [_base_layer("linux", "amd64")]
    layers += [b.layer(_files("many-layers", f"{i:02d}", 1)) for i in range(1, 60)]
    return _image("many-layers", AMD64, layers, empty_every=3)


def _dup_layer() -> b.ImageManifest:
    twice = b.layer(_files("dup-layer", "twice"))
    return _image("dup-layer", AMD64, [twice, b.layer(_files("dup-layer", "middle")), twice])


def _uncompressed() -> b.ImageManifest:
    plain = b.layer(_files("uncompressed", "plain", 3), media_type=b.OCI_LAYER, compressed=False)
    return _image("uncompressed", AMD64, [_base_layer("linux", "amd64"), plain])


def _artifact(subject: b.ImageManifest) -> b.ImageManifest:
    sbom = {
        "spdxVersion": "SPDX-2.3",
        "name": "oci-single",
        "packages": [{"name": "regimage-lab", "versionInfo": "1"}],
    }
    return b.manifest(
        b.empty_config(),
        [b.raw_layer(SBOM_TYPE, json.dumps(sbom, sort_keys=True).encode())],
        platform=None,
        artifact_type=SBOM_TYPE,
        subject=subject.doc,
        annotations={"org.opencontainers.image.created": b.FIXED_CREATED},
        layer_annotations=[{"org.opencontainers.image.title": "sbom.spdx.json"}],
    )


def _referrers_index(artifact: b.ImageManifest) -> tuple[b.ImageIndex, ExpectedDescriptor]:
    annotations = {"org.opencontainers.image.created": b.FIXED_CREATED}
    entry = IndexEntry(artifact, None, annotations, artifact.artifact_type)
    descriptor = ExpectedDescriptor(
        artifact.doc.media_type,
        artifact.doc.digest,
        artifact.doc.size,
        artifact.artifact_type,
        annotations,
    )
    return b.index([entry]), descriptor


def _index_no_platform() -> b.ImageIndex:
    images = [
        _image(
            "index-no-platform",
            p,
            [
                _base_layer("linux", p.architecture),
                b.layer(_files("index-no-platform", p.architecture)),
            ],
        )
        for p in (AMD64, ARM64)
    ]
    return b.index([IndexEntry(image, None) for image in images])


def _big_files(name: str, label: str, size: int) -> list[tuple[str, bytes]]:
    """A file of ``size`` deterministic bytes that compress about 2:1 (hex digits)."""
    data = hashlib.shake_128(f"regimage lab {name} {label}".encode()).hexdigest(size // 2 + 1)
    return [(f"usr/share/regimage-lab/{name}/{label}.dat", data.encode()[:size])]


def _zstd() -> b.ImageManifest:
    """zstd layers as Docker and containerd push them: one frame each, the content size stated
    (single-segment, or with a window), one after a skippable frame larger than a first read."""
    layers = [
        _base_layer("linux", "amd64"),
        b.zstd_layer([*_files("zstd", "single", 3), *_big_files("zstd", "single", 50_000)]),
        b.zstd_layer(_big_files("zstd", "windowed", 300_000), single_segment=False),
        b.zstd_layer(_files("zstd", "skippable"), skippable=b"regimage lab metadata\n" * 8),
    ]
    return _image("zstd", AMD64, layers)


def _unpacked_estimates() -> b.ImageManifest:
    """Layers whose unpacked size cannot be read, or not trusted, from their first or last bytes:
    several gzip members (eStargz), zstd without a content size, zstd in several frames
    (zstd:chunked); beside a plain gzip and an uncompressed layer."""
    name = "unpacked-estimates"
    layers = [
        b.layer([*_files(name, "gzip", 3), *_big_files(name, "gzip", 70_000)]),
        b.multi_member_layer(_files(name, "members", 3), members=3),
        b.zstd_layer(_files(name, "no-size"), content_size=False, single_segment=False),
        b.zstd_layer(_files(name, "frames", 3), frames=2),
        b.layer(_files(name, "plain"), media_type=b.OCI_LAYER, compressed=False),
    ]
    return _image(name, AMD64, layers)


# ── a family: images built on one another, for diff ───────────────────────────────────────────────


def _family_config(
    platform: Platform, layers: Sequence[Layer], version: str, **settings: Any
) -> b.Blob:
    history = [(f"/bin/sh -c #(nop) ADD file:family-{i} in /", False) for i in range(len(layers))]
    config = b.image_config(
        platform,
        layers,
        history,
        labels={"org.opencontainers.image.title": "family", "lab.version": version},
        **settings,
    )
    return b.config_blob(config)


def _family_base_layers(platform: Platform) -> list[Layer]:
    arch = "/".join(p for p in (platform.architecture, platform.variant) if p)
    return [_base_layer("linux", arch), b.layer(_files("family", f"tools-{arch}", 3))]


def _family_base(platform: Platform = AMD64) -> b.ImageManifest:
    layers = _family_base_layers(platform)
    return b.manifest(_family_config(platform, layers, "base"), layers, platform=platform)


def _family_app(platform: Platform = AMD64, *, zstd: bool = False) -> b.ImageManifest:
    """family-base and one layer on top; ``zstd``: the same tars, every layer as zstd."""
    arch = platform.architecture
    layers = [*_family_base_layers(platform), b.layer(_files("family", f"app-{arch}", 3))]
    if zstd:
        layers = [_as_zstd(layer) for layer in layers]
    config = _family_config(
        platform,
        layers,
        "1",
        env=("PATH=/usr/bin:/bin", "APP_MODE=production", "APP_DEBUG=0"),
        entrypoint=("/usr/bin/family-app",),
        cmd=("--serve",),
        user="app",
        working_dir="/srv",
        exposed_ports=("8080/tcp",),
    )
    return b.manifest(config, layers, platform=platform)


def _family_app_v2(platform: Platform = AMD64) -> b.ImageManifest:
    """family-base with another app layer and a data layer on top; the config changed."""
    arch = platform.architecture
    layers = [
        *_family_base_layers(platform),
        b.layer(_files("family", f"app-v2-{arch}", 3)),
        b.layer(_files("family", f"data-v2-{arch}", 2)),
    ]
    config = _family_config(
        platform,
        layers,
        "2",
        env=("PATH=/usr/bin:/bin", "APP_MODE=staging", "APP_CACHE=/var/cache/app"),
        entrypoint=("/usr/bin/family-app", "--v2"),
        cmd=("--serve",),
        user="root",
        working_dir="/srv/app",
        exposed_ports=("8080/tcp", "9090/tcp"),
        created="2024-01-02T03:04:05Z",
    )
    return b.manifest(config, layers, platform=platform)


def _as_zstd(layer: Layer) -> Layer:
    """The same tar as a zstd layer (same diff ID, another digest)."""
    tar = gzip.decompress(layer.blob.data)
    blob = b.Blob.of(b.OCI_LAYER_ZSTD, b.zstd_frame(tar))
    return Layer(blob, layer.diff_id, len(tar))


def _family_index(version: str) -> b.ImageIndex:
    """family-app (``1``: the very manifests of ``family-app`` on amd64) or family-app-v2 (``2``,
    which adds linux/s390x and drops linux/arm/v7) for several platforms."""
    platforms = (AMD64, ARM64, ARM_V7) if version == "1" else (AMD64, ARM64, S390X)
    build = _family_app if version == "1" else _family_app_v2
    return b.index([IndexEntry(build(p), p) for p in platforms])


def _secret() -> b.ImageManifest:
    return _image("secret", AMD64, [b.layer(_files("secret", "classified"))])


def referrers_tag(digest: str) -> str:
    """OCI distribution-spec 1.1 fallback tag: ``<alg>-<hex>`` (alg ≤ 32, hex ≤ 64 characters)."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm[:32]}-{encoded[:64]}"


@functools.cache
def corpus() -> Corpus:
    """The public corpus (all registries), built once per process."""
    simple: dict[str, Node] = {
        "oci-single": _oci_single(),
        "docker-schema2": _docker_schema2(),
        "oci-index": _oci_index(),
        "docker-list": _docker_list(),
        "attested": _attested(),
        "nested": _nested(),
        "many-layers": _many_layers(),
        "dup-layer": _dup_layer(),
        "uncompressed": _uncompressed(),
        "index-no-platform": _index_no_platform(),
        "zstd": _zstd(),
        "unpacked-estimates": _unpacked_estimates(),
        "family-base": _family_base(),
        "family-app": _family_app(),
        "family-app-v2": _family_app_v2(),
        "family-app-zstd": _family_app(zstd=True),
        "family-index": _family_index("1"),
        "family-index-v2": _family_index("2"),
    }
    subject = simple["oci-single"]
    assert isinstance(subject, b.ImageManifest)
    artifact = _artifact(subject)
    referrers, referrer = _referrers_index(artifact)
    fallback = referrers_tag(subject.doc.digest)

    plans = [
        RepositoryPlan(f"public/{name}", (Push(root, TAGS),))
        for name, root in simple.items()
        if name != "oci-single"
    ]
    plans.append(
        RepositoryPlan(
            "public/oci-single",
            (Push(subject, TAGS), Push(artifact), Push(referrers, (fallback,))),
        )
    )
    plans.append(
        RepositoryPlan(
            "public/artifact",
            (Push(subject), Push(artifact, TAGS), Push(referrers, (fallback,))),
        )
    )
    repo_tags = {plan.repository: plan.tags for plan in plans}
    images = {
        name: expect_image(
            name,
            f"public/{name}",
            root,
            TAGS,
            repository_tags=repo_tags[f"public/{name}"],
            referrers=(referrer,) if name == "oci-single" else (),
            referrers_tag=fallback if name == "oci-single" else None,
        )
        for name, root in simple.items()
    }
    images["artifact"] = expect_image(
        "artifact", "public/artifact", artifact, TAGS, repository_tags=repo_tags["public/artifact"]
    )
    return Corpus(dict(sorted(images.items())), tuple(plans))


@functools.cache
def private() -> Corpus:
    """``private/secret``: token and TLS registries only; pulling it needs credentials."""
    root = _secret()
    image = expect_image("secret", "private/secret", root, TAGS)
    return Corpus({"secret": image}, (RepositoryPlan("private/secret", (Push(root, TAGS),)),))


@functools.cache
def batch() -> tuple[Corpus, Corpus]:
    """The benchmark's batch: ``public/batch-NNN`` (one image each) and ``public/many-tags``."""
    images: dict[str, ExpectedImage] = {}
    plans: list[RepositoryPlan] = []
    for i in range(BATCH_SIZE):
        name = f"batch-{i:03d}"
        root = _image(name, AMD64, [b.layer(_files(name, "only", 1))])
        images[name] = expect_image(name, f"public/{name}", root, ("v1",))
        plans.append(RepositoryPlan(f"public/{name}", (Push(root, ("v1",)),)))
    shared = _base_layer("linux", "amd64")
    tag_images: dict[str, ExpectedImage] = {}
    pushes: list[Push] = []
    all_tags = tuple(f"t{i:03d}" for i in range(MANY_TAGS))
    for tag in all_tags:
        root = _image("many-tags", AMD64, [shared], labels={"lab.tag": tag})
        pushes.append(Push(root, (tag,)))
        tag_images[tag] = expect_image(
            "many-tags", "public/many-tags", root, (tag,), repository_tags=all_tags
        )
    return (
        Corpus(images, tuple(plans)),
        Corpus(tag_images, (RepositoryPlan("public/many-tags", tuple(pushes)),)),
    )

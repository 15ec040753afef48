"""Deterministic, real container images, and pushing them through the Distribution API.

Layers are gzip'd tars of a few small real files; configs carry true ``rootfs.diff_ids`` (the
sha256 of each uncompressed tar), history with ``empty_layer`` entries and fixed timestamps. The same
inputs give the same bytes and digests on every run: tar headers are fixed (mtime, uid, gid,
names) and the gzip container is written by hand (mtime 0, fixed OS byte) around raw deflate.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.lab.rawhttp import RawClient, RawResponse

__all__ = [
    "ACCEPT",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "IN_TOTO",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Blob",
    "ImageIndex",
    "ImageManifest",
    "IndexEntry",
    "Layer",
    "Platform",
    "PushStats",
    "Pusher",
    "config_blob",
    "empty_config",
    "image_config",
    "index",
    "layer",
    "manifest",
    "multi_member_layer",
    "sha256",
    "zstd_frame",
    "zstd_layer",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

#: Every timestamp in the lab's images: 2023-11-14T22:13:20Z.
FIXED_EPOCH = 1_700_000_000
FIXED_CREATED = "2023-11-14T22:13:20Z"
GZIP_LEVEL = 6
PUSH_ATTEMPTS = 4


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ── values ─────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @property
    def key(self) -> str:
        """``os/arch[/variant]``: the key of ExpectedImage.platforms."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def to_dict(self) -> dict[str, str]:
        obj = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            obj["os.version"] = self.os_version
        if self.variant:
            obj["variant"] = self.variant
        return obj


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes with their media type and digest: a layer, a config or a pushed document."""

    media_type: str
    data: bytes = field(repr=False)
    digest: str
    size: int

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Blob:
        return cls(media_type, data, sha256(data), len(data))

    def descriptor(
        self,
        *,
        platform: Platform | None = None,
        annotations: Mapping[str, str] | None = None,
        artifact_type: str | None = None,
        inline: bool = False,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if inline:
            obj["data"] = base64.b64encode(self.data).decode("ascii")
        if artifact_type:
            obj["artifactType"] = artifact_type
        if platform is not None:
            obj["platform"] = platform.to_dict()
        if annotations:
            obj["annotations"] = dict(annotations)
        return obj


@dataclass(frozen=True, slots=True)
class Layer:
    blob: Blob
    diff_id: str  # sha256 of the uncompressed tar (== blob digest for an uncompressed layer)
    unpacked_size: int | None = None  # bytes of the uncompressed tar (None: not a tar)


@dataclass(frozen=True, slots=True)
class ImageManifest:
    doc: Blob
    config: Blob
    layers: tuple[Layer, ...]
    platform: Platform | None  # as the config says; None for an artifact
    artifact_type: str | None = None
    subject: Blob | None = None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    target: ImageManifest | ImageIndex
    platform: Platform | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class ImageIndex:
    doc: Blob
    entries: tuple[IndexEntry, ...]


Node = ImageManifest | ImageIndex


# ── building ───────────────────────────────────────────────────────────────────────────────────────


def _gzip(data: bytes) -> bytes:
    """RFC 1952 member with mtime 0 and OS 255 around raw deflate: the same bytes on every Python."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\xff"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _tar(files: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    seen_dirs: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, content in files:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    info = tarfile.TarInfo(directory + "/")
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    _fix(info)
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o755 if path.startswith(("bin/", "usr/bin/")) else 0o644
            _fix(info)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _fix(info: tarfile.TarInfo) -> None:
    info.mtime = FIXED_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"


def layer(
    files: Sequence[tuple[str, bytes]], *, media_type: str = OCI_LAYER_GZIP, compressed: bool = True
) -> Layer:
    """A tar of ``files`` (path, content); gzip'd unless ``compressed`` is False."""
    tar = _tar(files)
    if not compressed:
        return Layer(Blob.of(media_type, tar), sha256(tar), len(tar))
    return Layer(Blob.of(media_type, _gzip(tar)), sha256(tar), len(tar))


#: zstd: the largest block (Block_Maximum_Size with a window of at least 128 KiB).
ZSTD_BLOCK_BYTES = 128 * 1024
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE_MAGIC = b"\x50\x2a\x4d\x18"


def zstd_frame(data: bytes, *, content_size: bool = True, single_segment: bool = True) -> bytes:
    """One zstd frame (RFC 8878) of Raw_Blocks: valid zstd any decoder reads, written by hand.

    ``single_segment``: no Window_Descriptor, an 8-byte Frame_Content_Size; otherwise a 128 KiB
    window and a 4-byte Frame_Content_Size, or none at all when ``content_size`` is False.
    """
    if single_segment:
        if not content_size:
            raise ValueError("a single-segment frame always states its content size")
        header = bytes([0xE0]) + struct.pack("<Q", len(data))  # FCS_Flag 3, Single_Segment
    elif content_size:
        header = bytes([0x80, 0x38]) + struct.pack("<I", len(data))  # FCS_Flag 2, window 2^17
    else:
        header = bytes([0x00, 0x38])  # no Frame_Content_Size
    blocks = []
    pieces = [data[i : i + ZSTD_BLOCK_BYTES] for i in range(0, len(data), ZSTD_BLOCK_BYTES)]
    for i, piece in enumerate(pieces or [b""]):
        last = 1 if i == max(len(pieces), 1) - 1 else 0
        blocks.append(struct.pack("<I", (len(piece) << 3) | last)[:3] + piece)  # Raw_Block
    return _ZSTD_MAGIC + header + b"".join(blocks)


def zstd_layer(
    files: Sequence[tuple[str, bytes]],
    *,
    content_size: bool = True,
    single_segment: bool = True,
    skippable: bytes = b"",
    frames: int = 1,
) -> Layer:
    """A tar of ``files`` as zstd (``application/vnd.oci.image.layer.v1.tar+zstd``): ``frames``
    frames (the tar split between them, as zstd:chunked does), after a skippable frame holding
    ``skippable`` when given."""
    tar = _tar(files)
    cut = [len(tar) * i // frames for i in range(frames + 1)]
    body = b"".join(
        zstd_frame(tar[a:b], content_size=content_size, single_segment=single_segment)
        for a, b in itertools.pairwise(cut)
    )
    if skippable:
        body = _ZSTD_SKIPPABLE_MAGIC + struct.pack("<I", len(skippable)) + skippable + body
    return Layer(Blob.of(OCI_LAYER_ZSTD, body), sha256(tar), len(tar))


def multi_member_layer(files: Sequence[tuple[str, bytes]], *, members: int) -> Layer:
    """A tar of ``files`` as several gzip members, one after another (as eStargz writes layers):
    valid gzip, whose trailer's ISIZE is the last member's only."""
    tar = _tar(files)
    cut = [len(tar) * i // members + (7 if 0 < i < members else 0) for i in range(members + 1)]
    body = b"".join(_gzip(tar[a:b]) for a, b in itertools.pairwise(cut))
    return Layer(Blob.of(OCI_LAYER_GZIP, body), sha256(tar), len(tar))


def raw_layer(media_type: str, data: bytes) -> Layer:
    """A non-tar layer (an in-toto statement, an SBOM): its diff ID is its digest."""
    return Layer(Blob.of(media_type, data), sha256(data))


def _dumps(obj: object, *, indent: int | None) -> bytes:
    if indent is None:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return json.dumps(obj, indent=indent).encode()


def image_config(
    platform: Platform,
    layers: Sequence[Layer],
    history: Sequence[tuple[str, bool]],
    *,
    labels: Mapping[str, str] | None = None,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] = ("/bin/sh",),
    entrypoint: Sequence[str] | None = None,
    user: str | None = None,
    working_dir: str = "/",
    exposed_ports: Sequence[str] = (),
    created: str = FIXED_CREATED,
) -> dict[str, Any]:
    """An image config; ``history`` = (created_by, empty_layer) entries, one non-empty per layer.

    ``entrypoint``, ``user`` and ``exposed_ports`` are written only when given."""
    if sum(1 for _, empty in history if not empty) != len(layers):
        raise ValueError("history must hold one non-empty entry per layer")
    obj: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "author": "regimage lab",
        "config": {
            "Env": list(env),
            **({"Entrypoint": list(entrypoint)} if entrypoint is not None else {}),
            "Cmd": list(cmd),
            **({"User": user} if user is not None else {}),
            "WorkingDir": working_dir,
            **({"ExposedPorts": {port: {} for port in exposed_ports}} if exposed_ports else {}),
            "Labels": dict(labels or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [item.diff_id for item in layers]},
        "history": [
            {
                "created": FIXED_CREATED,
                "created_by": created_by,
                **({"empty_layer": True} if empty else {}),
            }
            for created_by, empty in history
        ],
    }
    if platform.variant:
        obj["variant"] = platform.variant
    if platform.os_version:
        obj["os.version"] = platform.os_version
    return obj


def config_blob(config: Mapping[str, Any], media_type: str = OCI_CONFIG) -> Blob:
    return Blob.of(media_type, _dumps(config, indent=None))


def empty_config() -> Blob:
    return Blob.of(OCI_EMPTY, b"{}")


def manifest(
    config: Blob,
    layers: Sequence[Layer],
    *,
    media_type: str = OCI_MANIFEST,
    platform: Platform | None,
    artifact_type: str | None = None,
    subject: Blob | None = None,
    annotations: Mapping[str, str] | None = None,
    layer_annotations: Sequence[Mapping[str, str] | None] | None = None,
) -> ImageManifest:
    """An OCI image manifest or a Docker schema2 manifest over ``config`` and ``layers``."""
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        obj["artifactType"] = artifact_type
    obj["config"] = config.descriptor(inline=config.media_type == OCI_EMPTY)
    per_layer = layer_annotations or [None] * len(layers)
    obj["layers"] = [
        item.blob.descriptor(annotations=ann) for item, ann in zip(layers, per_layer, strict=True)
    ]
    if subject is not None:
        obj["subject"] = subject.descriptor()
    if annotations:
        obj["annotations"] = dict(annotations)
    indent = 3 if media_type == DOCKER_MANIFEST else 2
    return ImageManifest(
        Blob.of(media_type, _dumps(obj, indent=indent)),
        config,
        tuple(layers),
        platform,
        artifact_type,
        subject,
    )


def index(
    entries: Sequence[IndexEntry],
    *,
    media_type: str = OCI_INDEX,
    annotations: Mapping[str, str] | None = None,
) -> ImageIndex:
    """An OCI index or a Docker manifest list of ``entries``."""
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            entry.target.doc.descriptor(
                platform=entry.platform,
                annotations=entry.annotations,
                artifact_type=entry.artifact_type,
            )
            for entry in entries
        ],
    }
    if annotations:
        obj["annotations"] = dict(annotations)
    indent = 3 if media_type == DOCKER_LIST else 2
    return ImageIndex(Blob.of(media_type, _dumps(obj, indent=indent)), tuple(entries))


# ── pushing ────────────────────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)
class PushStats:
    blobs_uploaded: int = 0
    blobs_skipped: int = 0
    manifests_put: int = 0
    manifests_skipped: int = 0
    tags_put: int = 0
    tags_skipped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class PushError(RuntimeError):
    """The registry refused what the lab pushed."""


class Pusher:
    """Pushes documents and blobs into one registry; idempotent (HEAD first, skip what exists)."""

    def __init__(
        self, client: RawClient, stats: PushStats | None = None, *, fresh: bool = False
    ) -> None:
        self.client = client
        self.stats = stats or PushStats()
        self.fresh = fresh  # the repository is known to be empty: push without HEAD checks
        self._pushed: set[tuple[str, str]] = set()  # (repository, digest) this pusher uploaded

    def _request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        # Distribution 2.8 occasionally answers 500 to concurrent first pushes (DESIGN.md §9).
        for attempt in range(PUSH_ATTEMPTS):
            try:
                response = self.client.request(method, url, content=content, headers=headers)
            except OSError:
                if attempt + 1 == PUSH_ATTEMPTS:
                    raise
            else:
                if response.status_code < 500 or attempt + 1 == PUSH_ATTEMPTS:
                    return response
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def push_blob(self, repository: str, blob: Blob, *, check: bool = True) -> None:
        """Upload ``blob`` unless it is there; ``check=False`` skips the HEAD (a fresh manifest's
        blobs are rarely there, and uploading one twice is harmless)."""
        if (repository, blob.digest) in self._pushed:
            self.stats.add("blobs_skipped")
            return
        if (
            check
            and not self.fresh
            and self._request("HEAD", f"/v2/{repository}/blobs/{blob.digest}").status_code == 200
        ):
            self._pushed.add((repository, blob.digest))
            self.stats.add("blobs_skipped")
            return
        start = self._request("POST", f"/v2/{repository}/blobs/uploads/")
        if start.status_code != 202 or "location" not in start.headers:
            raise PushError(
                f"POST upload {repository}: HTTP {start.status_code} {start.text[:300]}"
            )
        # The Location may be absolute or relative, with or without a query string.
        location = start.join(start.headers["location"])
        location += ("&" if "?" in location else "?") + urlencode({"digest": blob.digest})
        put = self._request(
            "PUT", location, content=blob.data, headers={"Content-Type": "application/octet-stream"}
        )
        if put.status_code != 201:
            raise PushError(
                f"PUT blob {repository}@{blob.digest}: HTTP {put.status_code} {put.text[:300]}"
            )
        self._pushed.add((repository, blob.digest))
        self.stats.add("blobs_uploaded")

    def _has_manifest(self, repository: str, reference: str, digest: str) -> bool:
        if self.fresh:
            return False
        head = self._request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}
        )
        return head.status_code == 200 and head.headers.get("docker-content-digest") == digest

    def _put_manifest(self, repository: str, reference: str, doc: Blob) -> None:
        put = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=doc.data,
            headers={"Content-Type": doc.media_type},
        )
        if put.status_code != 201:
            raise PushError(
                f"PUT manifest {repository}:{reference}: HTTP {put.status_code} {put.text[:300]}"
            )
        if put.headers.get("docker-content-digest") != doc.digest:
            raise PushError(
                f"PUT manifest {repository}:{reference}: registry says "
                f"{put.headers.get('docker-content-digest')}, expected {doc.digest}"
            )

    def push_tree(self, repository: str, root: Node, reference: str | None = None) -> None:
        """Push ``root`` (by ``reference``, default its digest), children first.

        A document the registry already has prunes its subtree: Distribution only accepts a
        manifest whose blobs and children exist, so they do.
        """
        if self._has_manifest(repository, root.doc.digest, root.doc.digest):
            self.stats.add("manifests_skipped")
            if reference is not None:
                self._put_manifest(repository, reference, root.doc)
                self.stats.add("tags_put")
            return
        if isinstance(root, ImageIndex):
            for entry in root.entries:
                self.push_tree(repository, entry.target)
        else:
            for blob in (root.config, *(item.blob for item in root.layers)):
                self.push_blob(repository, blob, check=False)
        self._put_manifest(repository, reference or root.doc.digest, root.doc)
        self.stats.add("manifests_put")

    def push(self, repository: str, root: Node, tags: Sequence[str] = ()) -> None:
        """Push ``root`` and point each of ``tags`` at it; a tag already right costs one HEAD."""
        missing = [tag for tag in tags if not self._has_manifest(repository, tag, root.doc.digest)]
        for _ in range(len(tags) - len(missing)):
            self.stats.add("tags_skipped")
        if tags and not missing:
            return
        self.push_tree(repository, root, missing[0] if missing else None)
        for tag in missing[1:]:
            self._put_manifest(repository, tag, root.doc)
            self.stats.add("tags_put")

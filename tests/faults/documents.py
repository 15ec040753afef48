"""Documents for hostile registries (real digests), and a scripted registry serving them.

:class:`MiniRegistry` is the answer function of a :class:`~tests.faults.server.ScriptedServer`
that speaks just enough of the distribution API: ``/v2/``, manifests by tag or digest, blobs,
tags lists; ``overrides`` replace the answer for a path (or answer paths it does not know).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from regimage.model import mediatypes
from tests.faults.server import Reply, Request

__all__ = [
    "Blob",
    "MiniRegistry",
    "config_blob",
    "index_blob",
    "json_bytes",
    "manifest_blob",
]

_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/?]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


def json_bytes(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    """Content, its media type, digest and size; ``descriptor()`` is its JSON descriptor."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


def config_blob(architecture: str = "amd64", os: str = "linux", layers: int = 1) -> Blob:
    diff_ids = [sha256(f"layer {architecture} {i}".encode()) for i in range(layers)]
    config = {
        "architecture": architecture,
        "os": os,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }
    return Blob(mediatypes.OCI_CONFIG, json_bytes(config))


def manifest_blob(config: Blob, layers: int = 1, **extra: Any) -> Blob:
    layer_descriptors = [
        {
            "mediaType": mediatypes.OCI_LAYER_GZIP,
            "digest": sha256(f"compressed {config.digest} {i}".encode()),
            "size": 1000 + i,
        }
        for i in range(layers)
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layer_descriptors,
        **extra,
    }
    return Blob(mediatypes.OCI_MANIFEST, json_bytes(manifest))


def index_blob(entries: list[dict[str, Any]], **extra: Any) -> Blob:
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries, **extra}
    return Blob(mediatypes.OCI_INDEX, json_bytes(index))


class MiniRegistry:
    """Serves ``blobs`` by digest (manifests and blobs alike) and ``tags`` (tag → digest)."""

    def __init__(
        self,
        blobs: Mapping[str, Blob] | list[Blob] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, Callable[[Request], Reply]] | None = None,
    ) -> None:
        items = blobs.values() if isinstance(blobs, Mapping) else (blobs or [])
        self.blobs = {blob.digest: blob for blob in items}
        self.tags = dict(tags or {})
        self.overrides = dict(overrides or {})
        self._lock = threading.Lock()
        self.paths: list[str] = []

    def add(self, blob: Blob, tag: str | None = None) -> Blob:
        self.blobs[blob.digest] = blob
        if tag is not None:
            self.tags[tag] = blob.digest
        return blob

    def __call__(self, request: Request) -> Reply:
        path = request.path.split("?", 1)[0]
        with self._lock:
            self.paths.append(path)
        override = self.overrides.get(path)
        if override is not None:
            return override(request)
        if path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        tags = _TAGS.match(path)
        if tags is not None:
            body = json_bytes({"name": tags["name"], "tags": sorted(self.tags)})
            return Reply(200, {"Content-Type": "application/json"}, body)
        match = _PATH.match(path)
        if match is None:
            return _not_found()
        digest = self.tags.get(match["ref"], match["ref"])
        blob = self.blobs.get(digest)
        if blob is None:
            return _not_found()
        headers = {"Docker-Content-Digest": blob.digest}
        if match["kind"] == "manifests":
            headers["Content-Type"] = blob.media_type
        else:
            headers["Content-Type"] = "application/octet-stream"
        return Reply(200, headers, blob.data)


def _not_found() -> Reply:
    body = json_bytes({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})
    return Reply(404, {"Content-Type": "application/json"}, body)

"""What one audited reference adds to the audit database: its graph's rows (indexes, manifests,
blobs, the edges between them and, with ``--config``, diff IDs and chain IDs), read from the
walk the audit shares its document cache with, and its ``refs`` row, from its record.

The graph is read through the image's own :class:`~regimage.image.document_cache.DocumentCache`:
what the audit's answer already fetched (the root, the selected manifest) is not fetched again;
the other manifests of an index are (the database records every platform), configs only with
``--config``. Layers are never read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio

from regimage.errors import InvalidReference
from regimage.image.handlers import ChildrenHandler, children, is_attestation_entry
from regimage.image.image import Image
from regimage.image.walk import walk
from regimage.model.descriptor import Descriptor
from regimage.model.image_config import chain_ids
from regimage.model.manifest import Index, Manifest
from regimage.model.mediatypes import is_config, is_index, is_manifest
from regimage.model.platform import Platform
from regimage.model.reference import Reference

__all__ = ["CONFIG_READS", "GraphRows", "collect_graph", "ref_row", "utc_now"]

#: Configs of one image read at the same time (an index of many platforms, with --config).
CONFIG_READS = 8

DocumentRow = tuple[str, str, int, str, str | None, int, str | None]
EdgeRow = tuple[str, str, int, str]
BlobRow = tuple[str, str, int]
DiffIDRow = tuple[str, int, str, str]
#: run_id, position, reference, registry, repository, tag, digest, ok, skipped, error_kind,
#: error_message, exit_code, audited_at
RefRow = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class GraphRows:
    """The rows of one image's graph, in the column order of their tables."""

    documents: tuple[DocumentRow, ...]
    edges: tuple[EdgeRow, ...]
    blobs: tuple[BlobRow, ...]
    diff_ids: tuple[DiffIDRow, ...] = ()


async def collect_graph(image: Image, *, configs: bool) -> GraphRows:
    """Every index and manifest below ``image``'s root, their config and layer descriptors and,
    with ``configs``, each image config's diff IDs and chain IDs (and the platform of a manifest
    no index entry names)."""
    handler = children(image.provider, cache=image.cache)
    target = image.target
    root = await handler.document(target)  # cached: the audit's answer read it
    if root.media_type != target.media_type:  # a generic type (application/json): as Image does
        target = replace(target, media_type=root.media_type)
    # A single manifest is all there is (most tags): the walk is for indexes, whose manifests it
    # reads concurrently, within its guards.
    below = (
        (target,)
        if isinstance(root, Manifest)
        else (v.descriptor for v in await walk(handler, target))
    )
    documents: dict[str, DocumentRow] = {}
    edges: list[EdgeRow] = []
    blobs: dict[str, BlobRow] = {}
    manifests: dict[str, tuple[Manifest, Descriptor]] = {}
    for descriptor in below:
        key = str(descriptor.digest)
        media_type = descriptor.media_type
        if key in documents or not (is_index(media_type) or is_manifest(media_type)):
            continue
        document = await handler.document(descriptor)  # cached: read by the answer or the walk
        if isinstance(document, Index):
            documents[key] = (key, document.media_type, descriptor.size, "index", None, 0, None)
            edges += [(key, "manifest", i, str(d.digest)) for i, d in enumerate(document.manifests)]
        elif isinstance(document, Manifest):
            manifests[key] = (document, descriptor)
            documents[key] = _manifest_row(key, document, descriptor)
            config = document.config
            edges.append((key, "config", 0, str(config.digest)))
            blobs.setdefault(str(config.digest), _blob_row(config))
            for i, layer in enumerate(document.layers):
                edges.append((key, "layer", i, str(layer.digest)))
                blobs.setdefault(str(layer.digest), _blob_row(layer))
    diff_ids: list[DiffIDRow] = []
    if configs:
        read = {
            key: manifest.config
            for key, (manifest, descriptor) in manifests.items()
            if is_config(manifest.config.media_type) and not is_attestation_entry(descriptor)
        }
        for key, (platform, rows) in (await _read_configs(handler, read)).items():
            diff_ids += rows
            row = documents[key]
            if row[4] is None and platform is not None:
                documents[key] = (*row[:4], _platform_text(platform), *row[5:])
    return GraphRows(
        tuple(documents.values()), tuple(edges), tuple(blobs.values()), tuple(diff_ids)
    )


def ref_row(run_id: int, record: Mapping[str, Any], *, skipped: bool = False) -> RefRow:
    """The ``refs`` row of one audit record (see the schema for the columns)."""
    reference = record["reference"]
    error = record.get("error") or {}
    return (
        run_id,
        record["index"],
        reference,
        *_parts(reference),
        record.get("digest"),
        1 if record["ok"] else 0,
        1 if skipped else 0,
        error.get("kind"),
        error.get("message"),
        error.get("exitCode"),
        utc_now(),
    )


def _parts(reference: str) -> tuple[str | None, str | None, str | None]:
    """Registry, repository and tag of a record's reference: a reference as regimage prints one
    (every record of an image), or a repository (a list that could not be read); else none (an
    ``oci:`` layout, a registry's catalog, a line that does not parse)."""
    if not reference.startswith("oci:"):
        for parse in (Reference.parse, Reference.parse_repository):
            try:
                parsed = parse(reference)
            except InvalidReference:
                continue
            if str(parsed) == reference:  # not a host read as a repository of Docker Hub
                return parsed.domain, parsed.path, parsed.tag
    return None, None, None


def utc_now() -> str:
    """Now, as the database writes times: ISO 8601 in UTC with milliseconds."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


# ── machinery ──────────────────────────────────────────────────────────────────────────────────────


def _manifest_row(key: str, manifest: Manifest, descriptor: Descriptor) -> DocumentRow:
    attestation = is_attestation_entry(descriptor)
    artifact = None
    if manifest.is_artifact:
        artifact = manifest.artifact_type or manifest.config.media_type
    platform = None if descriptor.platform is None else _platform_text(descriptor.platform)
    return (
        key,
        manifest.media_type,
        descriptor.size,
        "manifest",
        platform,
        int(attestation),
        artifact,
    )


def _blob_row(descriptor: Descriptor) -> BlobRow:
    return (str(descriptor.digest), descriptor.media_type, descriptor.size)


def _platform_text(platform: Platform) -> str:
    """``os/arch[/variant]``, normalized as containerd does (``linux/arm64/v8`` → ``linux/arm64``)."""
    return str(platform.normalized())


async def _read_configs(
    handler: ChildrenHandler, read: Mapping[str, Descriptor]
) -> dict[str, tuple[Platform | None, list[DiffIDRow]]]:
    """Each manifest's config (key → descriptor), read ``CONFIG_READS`` at a time: its platform
    and its diff ID rows. A config that cannot be read fails the reference."""
    found: dict[str, tuple[Platform | None, list[DiffIDRow]]] = {}
    limiter = anyio.CapacityLimiter(CONFIG_READS)

    async def one(key: str, descriptor: Descriptor) -> None:
        async with limiter:
            config = await handler.image_config(descriptor)
        chains = chain_ids(config.diff_ids)
        rows = [
            (str(descriptor.digest), i, str(diff_id), str(chain))
            for i, (diff_id, chain) in enumerate(zip(config.diff_ids, chains, strict=True))
        ]
        found[key] = (config.platform, rows)

    async with anyio.create_task_group() as group:
        for key, descriptor in read.items():
            group.start_soon(one, key, descriptor)
    return {key: found[key] for key in read}

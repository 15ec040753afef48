"""The CLI's commands: each resolves a reference through :class:`regimage.cli.session.Session` and
writes one answer. Text for people by default, ``--json`` (schema documented in
:mod:`regimage.cli.core`) for scripts.

The library comes through the session, which imports it when a command first needs it: the parser
names these coroutines, and ``--help`` imports neither httpx nor anyio.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from regimage.cli import unpacked
from regimage.cli.output import json_text, size_text, table, write_bytes, write_json, write_lines
from regimage.cli.session import Session
from regimage.errors import NoMatchingPlatform
from regimage.model.reference import Reference

if TYPE_CHECKING:
    from regimage.image.answers import ImageSize, PlatformSize, PlatformSizes
    from regimage.image.image import Image
    from regimage.model.descriptor import Descriptor
    from regimage.model.platform import Platform

#: The annotation buildx puts on an attestation manifest's index entry: the manifest it attests.
ATTESTED_DIGEST = "vnd.docker.reference.digest"

__all__ = [
    "config",
    "digest",
    "inspect",
    "manifest",
    "platforms",
    "referrers",
    "rootfs",
    "size",
    "tags",
]


# ── what the commands share ───────────────────────────────────────────────────────────────────────


def platform_text(platform: Platform | None) -> str | None:
    """``os/arch[/variant]`` of a platform, None for none."""
    return None if platform is None else str(platform)


def size_document(image: Image, result: ImageSize | None) -> dict[str, Any]:
    """The keys ``size --json`` and ``inspect --json`` share (None: no platform was selected)."""
    document: dict[str, Any] = {
        "reference": image.name,
        "digest": str(image.target.digest),
        "mediaType": image.target.media_type,
    }
    if result is None:  # size --all-platforms of an index with nothing for this machine
        return document | dict.fromkeys(["platform", "manifestDigest", "size", "breakdown"])
    return {
        **document,
        "platform": platform_text(result.platform),
        "manifestDigest": str(result.manifest_digest),
        "size": result.total,
        "breakdown": {
            "index": result.index,
            "manifest": result.manifest,
            "config": result.config,
            "layers": result.layers,
            "layerCount": result.layer_count,
        },
    }


async def rootfs_document(image: Image) -> dict[str, Any]:
    """The keys ``rootfs --json``, ``chain-ids --json`` and ``inspect --json`` share."""
    selected = await image.manifest()
    diff_ids = await image.rootfs()
    return {
        "reference": image.name,
        "manifestDigest": str(selected.digest),
        "config": str(selected.manifest.config.digest),
        "diffIDs": [str(d) for d in diff_ids],
        "chainIDs": [str(d) for d in await image.chain_ids()],
    }


def _warn(session: Session, warnings: Sequence[str]) -> None:
    for warning in warnings:
        session.console.warn(warning)


# ── the commands ──────────────────────────────────────────────────────────────────────────────────


async def size(session: Session, args: argparse.Namespace) -> int:
    """``regimage size``."""
    if getattr(args, "unpacked", False):
        return await unpacked.size_unpacked(session, args, size_document)
    out = session.console.stdout
    image = await session.image(args.ref, args.platform)
    result = await _selected_size(session, image, args)
    _warn(session, result.warnings if result is not None else ())
    document = size_document(image, result)
    table_: PlatformSizes | None = None
    if args.all_platforms:
        table_ = await image.platform_sizes()
        document["platforms"] = [
            {
                "platform": platform_text(entry.platform),
                "digest": str(entry.digest),
                "size": entry.size,
                "attestation": entry.attestation,
            }
            for entry in table_.entries
        ]
        document["distinctSize"] = table_.distinct_size
        document["attestationSize"] = table_.attestation_size
    if args.json:
        write_json(out, document)
        return 0
    exact = args.bytes
    chosen = f" for {document['platform']}" if document["platform"] else ""
    lines: list[str] = []
    if result is None:
        pass  # --all-platforms of an index with nothing for this machine: the table alone
    elif args.breakdown:
        lines += table(
            [
                ["index", size_text(result.index, exact=exact)],
                ["manifest", size_text(result.manifest, exact=exact)],
                ["config", size_text(result.config, exact=exact)],
                [
                    "layers",
                    f"{size_text(result.layers, exact=exact)} in {result.layer_count} layers",
                ],
                ["total", size_text(result.total, exact=exact) + chosen],
            ]
        )
    elif table_ is None:
        lines.append(str(result.total) if exact else size_text(result.total) + chosen)
    if table_ is not None:
        lines += ([""] if lines else []) + _platform_table(table_, exact=exact)
    write_lines(out, lines)
    return 0


async def _selected_size(
    session: Session, image: Image, args: argparse.Namespace
) -> ImageSize | None:
    """The size of the platform selected; None for ``--all-platforms`` of an index with nothing
    for this machine (no --platform): its table of every platform is the answer."""
    try:
        return await image.size()
    except NoMatchingPlatform as exc:
        if not args.all_platforms or args.platform:
            raise
        if args.breakdown:
            _warn(session, [f"{exc}: no breakdown without one of them; pick it with --platform"])
        return None


def _platform_table(sizes: PlatformSizes, *, exact: bool) -> list[str]:
    rows = [["PLATFORM", "MANIFEST", "SIZE"]]
    rows += [
        [platform_text(e.platform) or "-", str(e.digest), size_text(e.size, exact=exact)]
        for e in sizes.platforms
    ]
    if sizes.attestations:
        rows.append(["attestations", "", ""])
        rows += [
            [f"  for {_attested(e, sizes)}", str(e.digest), size_text(e.size, exact=exact)]
            for e in sizes.attestations
        ]
    rows.append(["distinct total", "", size_text(sizes.distinct_size, exact=exact)])
    return table(rows)


def _attested(entry: PlatformSize, sizes: PlatformSizes) -> str:
    """The platform an attestation manifest is about (buildx names its manifest's digest)."""
    subject = entry.descriptor.annotations.get(ATTESTED_DIGEST)
    for other in sizes.platforms:
        if str(other.digest) == subject:
            return platform_text(other.platform) or str(other.digest)
    return subject or "-"


async def config(session: Session, args: argparse.Namespace) -> int:
    """``regimage config``."""
    image = await session.image(args.ref, args.platform)
    result = await image.config()
    if args.raw:
        write_bytes(session.console.stdout, await image.provider.fetch(result.descriptor))
    else:
        session.console.stdout.write(json_text(result.config.raw, indent=2) + "\n")
    return 0


async def rootfs(session: Session, args: argparse.Namespace) -> int:
    """``regimage rootfs`` (``diff-ids``) and ``regimage chain-ids``."""
    image = await session.image(args.ref, args.platform)
    if args.json:
        write_json(session.console.stdout, await rootfs_document(image))
        return 0
    digests = await (image.chain_ids() if args.chain else image.rootfs())
    session.console.stdout.write("".join(f"{d}\n" for d in digests))
    return 0


async def _document(image: Image, args: argparse.Namespace) -> Descriptor:
    """The root descriptor, or with --platform the selected platform manifest's."""
    return (await image.manifest()).descriptor if args.platform else image.target


async def manifest(session: Session, args: argparse.Namespace) -> int:
    """``regimage manifest``."""
    image = await session.image(args.ref, args.platform)
    data = await image.provider.fetch(await _document(image, args))
    if args.pretty:
        session.console.stdout.write(json_text(json.loads(data), indent=2) + "\n")
    else:
        write_bytes(session.console.stdout, data)
    return 0


async def digest(session: Session, args: argparse.Namespace) -> int:
    """``regimage digest``."""
    image = await session.image(args.ref, args.platform)
    target = await _document(image, args)
    if args.json:
        write_json(
            session.console.stdout,
            {
                "reference": image.name,
                "digest": str(target.digest),
                "mediaType": target.media_type,
                "size": target.size,
            },
        )
    else:
        session.console.stdout.write(f"{target.digest}\n")
    return 0


async def platforms(session: Session, args: argparse.Namespace) -> int:
    """``regimage platforms``."""
    image = await session.image(args.ref)
    found = [str(p) for p in await image.platforms()]
    if args.json:
        write_json(
            session.console.stdout,
            {"reference": image.name, "digest": str(image.target.digest), "platforms": found},
        )
    else:
        write_lines(session.console.stdout, found)
    return 0


async def inspect(session: Session, args: argparse.Namespace) -> int:
    """``regimage inspect``."""
    image = await session.image(args.ref, args.platform)
    result = await image.size()
    _warn(session, result.warnings)
    selected = await image.manifest()
    parsed = (await image.config()).config
    document = size_document(image, result)
    document.update(await rootfs_document(image))
    made_by = [h.created_by for h in parsed.history if not h.empty_layer]
    diff_ids = document["diffIDs"]
    layers = [
        {
            "digest": str(layer.digest),
            "mediaType": layer.media_type,
            "size": layer.size,
            "diffID": diff_ids[i] if i < len(diff_ids) else None,
            "createdBy": made_by[i] if i < len(made_by) else None,
        }
        for i, layer in enumerate(selected.manifest.layers)
    ]
    if document["platform"] is None and parsed.platform is not None:
        # A single manifest declares no platform, but inspect has read the config that does.
        document["platform"] = platform_text(parsed.platform)
    document.update(
        {
            "configDigest": document["config"],
            "created": parsed.created,
            "labels": dict(parsed.labels),
            "env": list(parsed.env),
            "layers": layers,
        }
    )
    budget = _rate_limit_document(session, args.ref)
    if budget is not None:  # only from registries that state one (Docker Hub)
        document["rateLimit"] = budget
    if args.json:
        write_json(session.console.stdout, document)
    else:
        _write_inspect(session, document)
    return 0


def _rate_limit_document(session: Session, text: str) -> dict[str, Any] | None:
    """The pull budget ``text``'s registry stated during the command (Docker Hub), or None."""
    if text.startswith("oci:"):
        return None
    budget = session.rate_limit(Reference.parse(text).api_host)
    if budget is None:
        return None
    return {
        "registry": budget.registry,
        "limit": budget.limit,
        "remaining": budget.remaining,
        "window": budget.window,
        "reset": budget.reset,
        "text": str(budget),
    }


def _write_inspect(session: Session, d: dict[str, Any]) -> None:
    out = session.console.stdout
    rows = [
        ["reference", d["reference"]],
        ["digest", f"{d['digest']}  {d['mediaType']}"],
        ["manifest", d["manifestDigest"]],
        ["config", d["configDigest"]],
        ["platform", d["platform"] or "-"],
        ["created", d["created"] or "-"],
        ["size", size_text(d["size"])],
    ]
    if d.get("rateLimit") is not None:
        rows.append(["rate limit", d["rateLimit"]["text"]])
    lines = table(rows)
    lines.append(f"labels ({len(d['labels'])})")
    lines += [f"  {k}={v}" for k, v in sorted(d["labels"].items())]
    lines.append(f"env ({len(d['env'])})")
    lines += [f"  {e}" for e in d["env"]]
    lines.append(f"layers ({len(d['layers'])})")
    lines += table(
        (
            [layer["digest"], size_text(layer["size"]), _one_line(layer["createdBy"])]
            for layer in d["layers"]
        ),
        indent="  ",
    )
    write_lines(out, lines)


def _one_line(text: str | None, limit: int = 120) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def tags(session: Session, args: argparse.Namespace) -> int:
    """``regimage tags``."""
    if args.repo.startswith("oci:"):
        name, found = await session.layout_tags(args.repo)
    else:
        repository = Reference.parse_repository(args.repo)
        name = repository.name
        found = sorted(await (await session.registry()).tags(repository))
    if args.json:
        write_json(session.console.stdout, {"repository": name, "tags": found})
    else:
        write_lines(session.console.stdout, found)
    return 0


async def referrers(session: Session, args: argparse.Namespace) -> int:
    """``regimage referrers``."""
    image = await session.image(args.ref)
    found = await image.referrers(args.artifact_type)
    if args.json:
        write_json(
            session.console.stdout,
            {
                "reference": image.name,
                "digest": str(image.target.digest),
                "referrers": [d.to_dict() for d in found],
            },
        )
        return 0
    rows = [[str(d.digest), d.artifact_type or d.media_type, size_text(d.size)] for d in found]
    write_lines(session.console.stdout, table(rows))
    return 0

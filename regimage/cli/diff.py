"""``regimage diff FROM TO``: what moving from one image to another costs and changes.

The answer is :func:`regimage.diff`'s (:func:`regimage.diff_platforms`' with
``--all-platforms``), written as a short review per platform, or as one JSON document
(``--json``; its schema is in the README).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from regimage.cli.output import human_size, write_json, write_lines

if TYPE_CHECKING:
    from regimage.cli.session import Session
    from regimage.image.diff import DiffLayer, DiffSide, ImageDiff
    from regimage.image.image import Image
    from regimage.model.config_diff import ConfigDiff, MappingDiff, Value
    from regimage.model.platform import Platform

__all__ = ["define_arguments", "diff", "diff_document"]


def define_arguments(p: argparse.ArgumentParser, ref_help: str) -> argparse._ArgumentGroup:
    """The two references, ``--platform`` and ``--all-platforms``; the output group is returned
    for the parser's ``--json``."""
    p.add_argument("ref", metavar="FROM", help=ref_help)
    p.add_argument("other", metavar="TO", help="the image to compare it with (as FROM)")
    p.add_argument_group("selection").add_argument(
        "--platform",
        metavar="P",
        action="append",
        help="os/arch[/variant] to pick from each index (default: this host's)",
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--all-platforms",
        action="store_true",
        help="compare every platform the two offer, paired by os/arch/variant",
    )
    return output


async def diff(session: Session, args: argparse.Namespace) -> int:
    """``regimage diff``."""
    from regimage.image.diff import diff as compare, diff_platforms  # anyio: not for --help

    before = await session.image(args.ref, args.platform)
    after = await session.image(args.other, args.platform)
    if args.all_platforms:
        found = await diff_platforms(before, after)
        diffs, dropped, added = list(found.diffs), found.only_before, found.only_after
    else:
        diffs, dropped, added = [await compare(before, after)], (), ()
    if args.json:
        write_json(session.console.stdout, diff_document(before, after, diffs, dropped, added))
        return 0
    lines = _head(before, after, dropped, added)
    for one in diffs:
        lines += ["", *_review(one, titled=args.all_platforms)]
    write_lines(session.console.stdout, lines)
    return 0


# ── JSON ───────────────────────────────────────────────────────────────────────────────────────────


def diff_document(
    before: Image,
    after: Image,
    diffs: list[ImageDiff],
    dropped: tuple[Platform, ...] = (),
    added: tuple[Platform, ...] = (),
) -> dict[str, Any]:
    """The ``diff --json`` document."""
    return {
        "from": _root(before),
        "to": _root(after),
        "platforms": [_platform_document(one) for one in diffs],
        "platformsAdded": [str(p) for p in added],
        "platformsRemoved": [str(p) for p in dropped],
    }


def _root(image: Image) -> dict[str, Any]:
    target = image.target
    return {"reference": image.name, "digest": str(target.digest), "mediaType": target.media_type}


def _platform_document(one: ImageDiff) -> dict[str, Any]:
    chain = one.base_chain_id
    return {
        "platform": _platform(one),
        "from": _side(one.before),
        "to": _side(one.after),
        "sameManifest": one.same_manifest,
        "layers": {
            "shared": [_layer(x) for x in one.shared],
            "added": [_layer(x) for x in one.added],
            "removed": [_layer(x) for x in one.removed],
            "recompressed": [
                {"diffID": str(new.diff_id), "from": _layer(old), "to": _layer(new)}
                for old, new in one.recompressed
            ],
        },
        "download": {"size": one.download, "blobs": one.download_blobs},
        "sizeChange": one.size_change,
        "base": {"layers": one.base_layers, "chainID": None if chain is None else str(chain)},
        "config": _config_document(one.config),
    }


def _side(side: DiffSide) -> dict[str, Any]:
    return {
        "manifestDigest": str(side.manifest.digest),
        "configDigest": str(side.config.digest),
        "platform": None if side.platform is None else str(side.platform),
        "size": side.size.total,
        "layerCount": len(side.layers),
    }


def _layer(layer: DiffLayer) -> dict[str, Any]:
    return {
        "digest": str(layer.digest),
        "mediaType": layer.descriptor.media_type,
        "size": layer.size,
        "diffID": None if layer.diff_id is None else str(layer.diff_id),
    }


def _config_document(config: ConfigDiff) -> dict[str, Any]:
    return {
        "changed": {
            f.name: {"from": _json_value(f.before), "to": _json_value(f.after)}
            for f in config.fields
        },
        "env": _mapping_document(config.env),
        "labels": _mapping_document(config.labels),
        "exposedPorts": {"added": list(config.ports_added), "removed": list(config.ports_removed)},
    }


def _mapping_document(changes: MappingDiff) -> dict[str, Any]:
    return {
        "added": dict(changes.added),
        "removed": dict(changes.removed),
        "changed": {k: {"from": old, "to": new} for k, (old, new) in changes.changed.items()},
    }


def _json_value(value: Value) -> str | list[str] | None:
    return list(value) if isinstance(value, tuple) else value


# ── the review ─────────────────────────────────────────────────────────────────────────────────────


def _platform(one: ImageDiff) -> str | None:
    platform = one.after.platform or one.before.platform
    return None if platform is None else str(platform)


def _head(
    before: Image, after: Image, dropped: tuple[Platform, ...], added: tuple[Platform, ...]
) -> list[str]:
    lines = [
        f"from  {before.name}  {before.target.digest}",
        f"to    {after.name}  {after.target.digest}",
    ]
    if added:
        lines.append(f"platforms added: {', '.join(map(str, added))}")
    if dropped:
        lines.append(f"platforms removed: {', '.join(map(str, dropped))}")
    return lines


def _review(one: ImageDiff, *, titled: bool) -> list[str]:
    """A short review of one platform's changes."""
    lines = [f"{_platform(one) or 'the selected manifests'}:"] if titled else []
    old, new = one.before, one.after
    lines.append(f"manifest  {old.manifest.digest} → {new.manifest.digest}")
    if one.same_manifest:
        return [*lines, "the same manifest: nothing changes"]
    if one.base_layers:
        lines.append(
            f"base      {one.base_layers} layer{_s(one.base_layers)} in common "
            f"(chain ID {one.base_chain_id})"
        )
    else:
        lines.append("base      no layer in common")
    lines.append(
        f"layers    {len(one.shared)} shared, {len(one.added)} added, {len(one.removed)} "
        f"removed, {len(one.recompressed)} recompressed"
    )
    lines += [f"  + {x.digest}  {human_size(x.size)}" for x in one.added]
    lines += [f"  - {x.digest}  {human_size(x.size)}" for x in one.removed]
    lines += [
        f"  ~ {a.digest} → {b.digest}  same content, other compression "
        f"({_compression(a)} → {_compression(b)})"
        for a, b in one.recompressed
    ]
    lines.append(
        f"download  {human_size(one.download)} in {one.download_blobs} blob"
        f"{_s(one.download_blobs)}, for a host that has the first image"
    )
    sign = "+" if one.size_change >= 0 else "-"
    lines.append(
        f"size      {human_size(old.size.total)} → {human_size(new.size.total)} "
        f"({sign}{human_size(abs(one.size_change))})"
    )
    config = _config_lines(one.config)
    lines += ["config    no change"] if not config else ["config", *config]
    return lines


def _config_lines(config: ConfigDiff) -> list[str]:
    lines = [f"  {f.name}: {_text(f.before)} → {_text(f.after)}" for f in config.fields]
    for name, changes in (("env", config.env), ("labels", config.labels)):
        lines += [f"  {name}: + {k}={v}" for k, v in changes.added.items()]
        lines += [f"  {name}: - {k}={v}" for k, v in changes.removed.items()]
        lines += [f"  {name}: ~ {k}: {a} → {b}" for k, (a, b) in changes.changed.items()]
    lines += [f"  ports: + {p}" for p in config.ports_added]
    lines += [f"  ports: - {p}" for p in config.ports_removed]
    return lines


def _text(value: Value) -> str:
    if value is None:
        return "(none)"
    return json.dumps(list(value)) if isinstance(value, tuple) else value


def _compression(layer: DiffLayer) -> str:
    media_type = layer.descriptor.media_type
    return media_type.rsplit("+", 1)[1] if "+" in media_type else media_type.rsplit(".", 1)[-1]


def _s(n: int) -> str:
    return "" if n == 1 else "s"

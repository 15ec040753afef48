"""``regimage size --unpacked``: the disk an image takes once pulled, read from a few bytes a layer.

The size command hands over here when ``--unpacked`` is given; the answer is
:meth:`regimage.Image.unpacked_size`'s, written as a line (or a per-layer table with
``--breakdown``), or as the size document with an ``unpacked`` object (``--json``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from regimage.cli.output import human_size, size_text, table, write_json, write_lines
from regimage.cli.session import Session
from regimage.cli.status import UsageError

if TYPE_CHECKING:
    from regimage.image.answers import ImageSize
    from regimage.image.image import Image
    from regimage.image.unpacked import UnpackedSize
    from regimage.model.layer_size import LayerSize

__all__ = ["size_unpacked", "unpacked_document"]

SizeDocument = Callable[["Image", "ImageSize"], dict[str, Any]]


async def size_unpacked(
    session: Session, args: argparse.Namespace, size_document: SizeDocument
) -> int:
    """``regimage size --unpacked`` (``size_document``: the keys every size answer carries)."""
    if args.all_platforms:
        raise UsageError("--unpacked sizes one platform: drop --all-platforms")
    image = await session.image(args.ref, args.platform)
    result = await image.size()
    for warning in result.warnings:
        session.console.warn(warning)
    unpacked = await image.unpacked_size()
    document = size_document(image, result)
    document["unpacked"] = unpacked_document(unpacked)
    if args.json:
        write_json(session.console.stdout, document)
        return 0
    for layer in unpacked.layers:
        if not layer.known:
            session.console.warn(f"layer {layer.digest}: {layer.status}: {layer.note}")
    lines: list[str] = []
    if args.breakdown:
        lines += _layer_table(unpacked, exact=args.bytes)
    elif args.bytes:
        lines.append(str(unpacked.total))
    else:
        platform = f" for {document['platform']}" if document["platform"] else ""
        lines.append(f"{_total_text(unpacked)} unpacked{platform} ({_counted(unpacked)})")
    write_lines(session.console.stdout, lines)
    return 0


def unpacked_document(unpacked: UnpackedSize) -> dict[str, Any]:
    """The ``unpacked`` object of ``size --unpacked --json``."""
    return {
        "size": unpacked.total,
        "compressedSize": unpacked.compressed,
        "exact": unpacked.exact,
        "complete": unpacked.complete,
        "unknownLayers": unpacked.unknown,
        "untrustedLayers": unpacked.untrusted,
        "layers": [
            {
                "digest": str(layer.digest),
                "mediaType": layer.media_type,
                "size": layer.size,
                "unpackedSize": layer.unpacked,
                "status": layer.status,
                "method": layer.method,
                "note": layer.note or None,
            }
            for layer in unpacked.layers
        ],
    }


def _total_text(unpacked: UnpackedSize) -> str:
    """``about 1.2 MB (1,234,567 bytes)``: exact, an estimate, or a lower bound."""
    text = size_text(unpacked.total)
    if unpacked.exact:
        return text
    return f"about {text}" if unpacked.complete else f"at least {text}"


def _counted(unpacked: UnpackedSize) -> str:
    """``3 layers``, or ``2 of 4 layers; 1 unknown, 1 untrusted``."""
    count = len(unpacked.layers)
    if unpacked.complete:
        return f"{count} layer{'' if count == 1 else 's'}"
    left = [
        f"{n} {what}"
        for n, what in ((unpacked.unknown, "unknown"), (unpacked.untrusted, "untrusted"))
        if n
    ]
    known = count - unpacked.unknown - unpacked.untrusted
    return f"{known} of {count} layers; {', '.join(left)}"


def _layer_table(unpacked: UnpackedSize, *, exact: bool) -> list[str]:
    rows = [["LAYER", "COMPRESSED", "UNPACKED", "HOW"]]
    rows += [
        [
            str(layer.digest),
            _size(layer.size, exact=exact),
            _size(layer.unpacked, exact=exact, mark=not layer.known),
            _how(layer),
        ]
        for layer in unpacked.layers
    ]
    rows.append(
        [
            "total",
            _size(unpacked.compressed, exact=exact),
            _size(unpacked.total, exact=exact),
            _counted(unpacked),
        ]
    )
    return table(rows)


def _size(n: int | None, *, exact: bool, mark: bool = False) -> str:
    if n is None:
        return "-"
    text = str(n) if exact else human_size(n)
    return f"({text})" if mark else text


def _how(layer: LayerSize) -> str:
    """``estimate (gzip-isize)``; why a layer is unknown or untrusted is warned on stderr."""
    return f"{layer.status} ({layer.method})" if layer.method else layer.status

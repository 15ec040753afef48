"""The lab's corpus images in memory: documents, configs and layers of one repository in a
:class:`~regimage.content.provider.MemoryProvider`, for tests that read layers without a
registry."""

from __future__ import annotations

from collections.abc import Iterator

from regimage.content.provider import MemoryProvider
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from tests.lab import builder as b
from tests.lab.corpus import TAGS, corpus

__all__ = ["memory_of"]


def _nodes(root: b.Node) -> Iterator[b.Node]:
    if isinstance(root, b.ImageIndex):
        for entry in root.entries:
            yield from _nodes(entry.target)
    yield root


def memory_of(name: str, *, layers: bool = True) -> tuple[MemoryProvider, Image]:
    """The corpus image ``name`` (its documents, configs and, unless not, layers) in memory, and
    an Image of it (this machine's platform)."""
    plan = next(p for p in corpus().plans if p.repository == f"public/{name}")
    root = next(push.root for push in plan.pushes if TAGS[0] in push.tags)
    memory = MemoryProvider()
    for node in _nodes(root):
        memory.add(node.doc.data, media_type=node.doc.media_type)
        if isinstance(node, b.ImageManifest):
            memory.add(node.config.data)
            for layer in node.layers if layers else ():
                memory.add(layer.blob.data)
    target = Descriptor(root.doc.media_type, Digest.parse(root.doc.digest), root.doc.size)
    return memory, Image(f"lab/{name}:{TAGS[0]}", target, memory, None)

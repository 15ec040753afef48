"""The walker's memo of parsed documents: each index, manifest and config read at most once.

Not to be confused with :class:`~regimage.content.cache.ContentCache`, which keeps verified
*bytes* between requests; this keeps the *parsed* documents a walk (or an
:class:`~regimage.image.image.Image`) has read, and makes concurrent readers of one digest wait for
the first instead of fetching it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

from regimage.model.descriptor import Descriptor
from regimage.model.image_config import ImageConfig
from regimage.model.layer_size import LayerSize
from regimage.model.manifest import Document

__all__ = ["DocumentCache", "Memo"]

T = TypeVar("T")


class Memo(Generic[T]):
    """Values by key, loaded once even when several tasks ask at the same time."""

    def __init__(self) -> None:
        self._values: dict[object, T] = {}
        self._loading: dict[object, anyio.Event] = {}

    def put(self, key: object, value: T) -> None:
        self._values[key] = value

    async def get(self, key: object, load: Callable[[], Awaitable[T]]) -> T:
        while key not in self._values:
            loading = self._loading.get(key)
            if loading is None:
                break
            await loading.wait()  # the loader finished; on its failure, the loop loads again
        else:
            return self._values[key]
        event = self._loading[key] = anyio.Event()
        try:
            value = await load()
            self._values[key] = value
            return value
        finally:
            del self._loading[key]
            event.set()


class DocumentCache:
    """Parsed documents and configs by digest (and declared media type), and layers' unpacked
    sizes by digest (:mod:`regimage.image.unpacked`).

    Content is addressed by digest, so an entry never goes stale: one cache can serve every walk of
    an image, or of many images sharing manifests.
    """

    def __init__(self) -> None:
        self.documents: Memo[Document] = Memo()
        self.configs: Memo[ImageConfig] = Memo()
        self.layer_sizes: Memo[LayerSize] = Memo()

    @staticmethod
    def key(descriptor: Descriptor) -> tuple[str, str]:
        return (str(descriptor.digest), descriptor.media_type)

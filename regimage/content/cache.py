"""What a content cache is: where verified content is kept between requests.

Content is addressed by digest, so it never goes stale: a manifest or config read once need never
be read again. :class:`~regimage.content.memory_cache.MemoryCache` keeps it for one process,
:class:`~regimage.content.disk_cache.DiskCache` for every process of the user.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ContentCache"]


class ContentCache(Protocol):
    """Where verified content is kept between requests, keyed by ``host/repository@digest``."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...

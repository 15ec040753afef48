"""Verified content in memory, least recently used first out: the default content cache."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["DEFAULT_CACHE_BYTES", "MemoryCache"]

#: Verified content kept in memory by the default cache.
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class MemoryCache:
    """A least-recently-used cache of verified content, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old)
        self._items[key] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)

    def __len__(self) -> int:
        return len(self._items)

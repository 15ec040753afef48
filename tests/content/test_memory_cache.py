"""The memory cache: verified content in a least-recently-used store bounded in bytes."""

from __future__ import annotations

from regimage.content.memory_cache import MemoryCache


def test_memory_cache_is_bounded_lru() -> None:
    cache = MemoryCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"
    cache.put("c", b"1234")  # evicts b, the least recently used
    assert cache.get("b") is None
    assert len(cache) == 2

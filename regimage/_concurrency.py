"""The one place tasks are started: a task group under a capacity limit, results in input order.

Policy for failures (STYLE.md §3): the first failure cancels the tasks still running. If that
leaves exactly one exception, it is raised as itself, unwrapped, so that callers can
``except NotFound``. If several tasks failed before the cancellation reached them, anyio's
``ExceptionGroup`` holding them propagates as it is (``BaseExceptionGroup`` if one is not an
``Exception``, such as ``KeyboardInterrupt``). Cancellation of the caller propagates as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio

__all__ = ["gather_limited", "map_limited"]

T = TypeVar("T")
A = TypeVar("A")


async def gather_limited(
    funcs: Iterable[Callable[[], Awaitable[T]]],
    limit: int | anyio.CapacityLimiter,
) -> list[T]:
    """Run the zero-argument coroutine functions ``funcs``, at most ``limit`` at a time.

    Returns their results in the order of ``funcs``, whatever order they finish in. ``limit`` may
    be a shared :class:`anyio.CapacityLimiter`, to bound several gathers together.
    """
    jobs = list(funcs)
    if not jobs:
        return []
    limiter = limit if isinstance(limit, anyio.CapacityLimiter) else anyio.CapacityLimiter(limit)
    results: list[T | None] = [None] * len(jobs)

    async def run(index: int, job: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            results[index] = await job()

    only: BaseException | None = None
    try:
        async with anyio.create_task_group() as group:
            for index, job in enumerate(jobs):
                group.start_soon(run, index, job)
    except Exception as exc:  # an ExceptionGroup (the backport anyio uses on Python 3.10)
        only = _only_member(exc)
        if only is None:
            raise
    if only is not None:
        raise only  # outside the except block: its own __cause__ and __context__ stay
    return results  # type: ignore[return-value]  # every slot was filled: no task failed


def _only_member(error: BaseException) -> BaseException | None:
    """The one exception inside (nested) groups of one, or None for several or for a non-group."""
    members = getattr(error, "exceptions", None)
    if not hasattr(error, "split") or not isinstance(members, tuple) or len(members) != 1:
        return None
    member = members[0]
    return _only_member(member) or member


async def map_limited(
    func: Callable[[A], Awaitable[T]],
    items: Iterable[A],
    limit: int | anyio.CapacityLimiter,
) -> list[T]:
    """``[await func(item) for item in items]``, at most ``limit`` at a time, results in order."""
    return await gather_limited([_bind(func, item) for item in items], limit)


def _bind(func: Callable[[A], Awaitable[T]], item: A) -> Callable[[], Awaitable[T]]:
    def call() -> Awaitable[T]:
        return func(item)

    return call

"""The one place tasks are started: a task group under a capacity limit, results in input order.

Policy for failures (STYLE.md §3): the first failure cancels the tasks still running. If that
leaves exactly one exception, it is raised as itself, unwrapped, so that callers can
``except NotFound``. If several tasks failed before the cancellation reached them, anyio's
``ExceptionGroup`` holding them propagates as it is (``BaseExceptionGroup`` if one is not an
``Exception``, such as ``KeyboardInterrupt``). Cancellation of the caller propagates as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import anyio

__all__ = ["gather_in_order", "gather_limited", "map_limited"]

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


async def gather_in_order(
    calls: Sequence[Callable[[], Awaitable[T]]], *, limit: int | None = None
) -> list[T]:
    """Run ``calls`` concurrently, at most ``limit`` at a time; results in call order. On failure
    the rest are cancelled and the first error *in call order* is re-raised as itself, never inside
    an ``ExceptionGroup``: a walk's error must not depend on which fetch failed first.

    ``limit`` workers take the calls in order (no limit: one worker per call), so many cheap calls
    cost a few tasks rather than one each. The walker's limiter covers handler calls only, never
    held across a recursive fan-out: that would deadlock once the depth exceeded its capacity.
    """
    if not calls:
        return []
    if len(calls) == 1:
        return [await calls[0]()]
    errors: list[Exception | None] = [None] * len(calls)
    results: list[T | None] = [None] * len(calls)
    pending = iter(range(len(calls)))  # shared: each worker takes the next call
    workers = len(calls) if limit is None else max(1, min(limit, len(calls)))
    with anyio.CancelScope() as scope:

        async def worker() -> None:
            for i in pending:
                try:
                    results[i] = await calls[i]()
                except Exception as exc:  # re-raised below, in call order
                    errors[i] = exc
                    scope.cancel()
                    return

        await gather_limited([worker] * workers, workers)
    for error in errors:
        if error is not None:
            raise error
    return results  # type: ignore[return-value]  # no call failed: every slot holds its result


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

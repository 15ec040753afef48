"""The one place tasks are started: a task group under a capacity limit, results in input order.

Policy for failures (STYLE.md §3): the first failure cancels the tasks still running. If that
leaves exactly one exception, it is raised as itself, unwrapped, so that callers can
``except NotFound``. If several tasks failed before the cancellation reached them, their
exceptions are raised together as an ``ExceptionGroup`` (``BaseExceptionGroup`` if any is not an
``Exception``), in the order they happened. Cancellation of the caller propagates as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    from builtins import ExceptionGroup
else:  # pragma: no cover - depends on the interpreter
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found,unused-ignore]

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
    errors: list[Exception] = []

    async with anyio.create_task_group() as group:

        async def run(index: int, job: Callable[[], Awaitable[T]]) -> None:
            try:
                async with limiter:
                    results[index] = await job()
            except Exception as exc:
                errors.append(exc)
                group.cancel_scope.cancel()

        for index, job in enumerate(jobs):
            group.start_soon(run, index, job)

    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(f"{len(errors)} concurrent operations failed", errors)
    return results  # type: ignore[return-value]  # every slot was filled: no task failed


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

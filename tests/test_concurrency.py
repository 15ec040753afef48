"""gather_limited / map_limited / gather_in_order: order, limits, and the failure policies."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest

from regimage._concurrency import gather_in_order, gather_limited, map_limited
from regimage.errors import NotFound

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:
    from exceptiongroup import ExceptionGroup  # type: ignore[import-not-found,unused-ignore]

pytestmark = pytest.mark.anyio


async def checkpoints(n: int) -> None:
    for _ in range(n):
        await anyio.lowlevel.checkpoint()


async def test_results_come_in_input_order() -> None:
    async def job(i: int) -> int:
        await checkpoints(10 - i)  # later items finish first
        return i * i

    assert await map_limited(job, range(10), 4) == [i * i for i in range(10)]


async def test_empty_input() -> None:
    assert await gather_limited([], 3) == []


async def test_the_limit_is_respected() -> None:
    running = 0
    peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await checkpoints(5)
        running -= 1

    await gather_limited([job] * 20, 3)
    assert peak == 3


async def test_a_shared_limiter_bounds_several_gathers() -> None:
    limiter = anyio.CapacityLimiter(2)
    running = 0
    peak = 0

    async def job() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await checkpoints(3)
        running -= 1
        return 1

    async def outer() -> list[int]:
        return await gather_limited([job] * 5, limiter)

    results = await gather_limited([outer, outer], 2)
    assert results == [[1] * 5, [1] * 5]
    assert peak == 2


async def test_one_failure_is_raised_unwrapped_and_cancels_the_rest() -> None:
    never = anyio.Event()
    cancelled: list[int] = []

    async def waiter(i: int) -> None:
        try:
            await never.wait()
        except anyio.get_cancelled_exc_class():
            cancelled.append(i)
            raise

    async def failing() -> None:
        await checkpoints(2)
        raise NotFound("tag 'x' not found in r.test/a")

    jobs: list[Callable[[], Awaitable[None]]] = [
        lambda: waiter(0),
        failing,
        lambda: waiter(2),
    ]
    with anyio.fail_after(5), pytest.raises(NotFound, match="tag 'x' not found"):
        await gather_limited(jobs, 10)
    assert sorted(cancelled) == [0, 2]


async def test_several_failures_are_an_exception_group() -> None:
    async def failing(i: int) -> None:
        raise ValueError(f"bad {i}")

    with pytest.raises(ExceptionGroup) as caught:
        await map_limited(failing, [1, 2], 2)
    assert sorted(str(e) for e in caught.value.exceptions) == ["bad 1", "bad 2"]


async def test_the_single_error_keeps_its_cause() -> None:
    empty: dict[str, int] = {}

    async def failing() -> None:
        try:
            empty["inner"]
        except KeyError as exc:
            raise NotFound("outer") from exc

    with pytest.raises(NotFound) as caught:
        await gather_limited([failing], 1)
    assert isinstance(caught.value.__cause__, KeyError)


async def test_cancellation_of_the_caller_propagates() -> None:
    never = anyio.Event()

    async def job() -> None:
        await never.wait()

    with anyio.move_on_after(0) as scope:
        await gather_limited([job, job], 2)
    assert scope.cancelled_caught


# ── gather_in_order: a few workers, the first error in call order ───────────────────────────────


async def test_gather_in_order_keeps_call_order_with_few_workers() -> None:
    running = 0
    peak = 0

    def call(i: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await checkpoints(7 - i % 7)
            running -= 1
            return i

        return run

    assert await gather_in_order([call(i) for i in range(50)], limit=3) == list(range(50))
    assert peak == 3
    assert await gather_in_order([]) == []


async def test_gather_in_order_raises_its_error_unwrapped_and_cancels_the_rest() -> None:
    finished: list[int] = []

    def call(i: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            await checkpoints(10 - i)  # the later calls get further first
            if i in (1, 2):
                raise NotFound(f"call {i}")
            finished.append(i)
            return i

        return run

    # call 2 fails first; call 1 (which would fail too) and call 0 are cancelled, not run out
    with pytest.raises(NotFound, match="call 2"):
        await gather_in_order([call(i) for i in range(3)])
    assert finished == []

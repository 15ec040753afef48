"""The audit's pull tokens, fetched ahead of its workers, many repositories per token request.

References stream in from the reader; :class:`Authorizer` hands their repositories to
``RegistryProvider.authorize`` in batches, so that each worker's first request already carries its
token: no 401 and no token request of its own. Each registry of a batch is authorized on its own,
within the audit's time limit per reference: a registry that never answers (its ``/v2/``, its
token server) holds back no other registry's references, and its own for no longer than that.
"""

from __future__ import annotations

import logging

import anyio

from regimage.errors import InvalidReference
from regimage.model.reference import Reference
from regimage.registry.client import RegistryProvider

__all__ = ["AUTHORIZE_BATCH", "AUTHORIZE_GATHER", "Authorizer"]

logger = logging.getLogger("regimage")

#: Repositories per authorize call of an audit (the provider asks ~50 scopes per token request).
AUTHORIZE_BATCH = 50
#: Seconds a batch waits for more references when no other batch is in flight.
AUTHORIZE_GATHER = 0.002


class Authorizer:
    """Fetches the pull tokens of the references as they stream in (:meth:`add`), in batches.

    A batch goes when :data:`AUTHORIZE_BATCH` repositories are waiting, or when no batch is in
    flight (after :data:`AUTHORIZE_GATHER` seconds, to let the references being read join it).
    Each worker waits for its repository's batch. Best effort: whatever fails here is met, and
    reported, by the worker's own requests. Each registry's part of a batch goes at the same
    time as the others', and is given up after ``timeout`` seconds (the time one reference may
    take: its worker's wait counts against it).
    """

    def __init__(self, registry: RegistryProvider, *, timeout: float) -> None:
        self._registry = registry
        self._timeout = timeout
        self._events: dict[tuple[str, str], anyio.Event] = {}
        self._pending: list[tuple[Reference, anyio.Event]] = []
        self._changed = anyio.Event()
        self._in_flight = 0
        self._closed = False

    def add(self, text: str) -> anyio.Event | None:
        """The event set once ``text``'s repository is authorized (None: nothing to wait for)."""
        if text.startswith("oci:"):
            return None
        try:
            reference = Reference.parse(text)
        except InvalidReference:
            return None  # the worker reports it
        key = (reference.api_host, reference.path)
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = anyio.Event()
            self._pending.append((reference, event))
            self._changed.set()
        return event

    def close(self) -> None:
        """No more references: authorize what is pending, then stop."""
        self._closed = True
        self._changed.set()

    async def run(self) -> None:
        """Send the batches until :meth:`close` and the last batch is done."""
        async with anyio.create_task_group() as group:
            while True:
                if not self._pending:
                    if self._closed:
                        return
                    await self._wait_for_change()
                    continue
                if len(self._pending) < AUTHORIZE_BATCH and not self._closed:
                    if self._in_flight:
                        await self._wait_for_change()  # more references, or the batch is done
                        continue
                    await anyio.sleep(AUTHORIZE_GATHER)
                batch, self._pending = self._pending, []
                self._in_flight += 1
                group.start_soon(self._authorize, batch)

    async def _wait_for_change(self) -> None:
        self._changed = anyio.Event()
        await self._changed.wait()

    async def _authorize(self, batch: list[tuple[Reference, anyio.Event]]) -> None:
        by_host: dict[str, list[tuple[Reference, anyio.Event]]] = {}
        for item in batch:
            by_host.setdefault(item[0].api_host, []).append(item)
        try:
            async with anyio.create_task_group() as group:
                for part in by_host.values():
                    group.start_soon(self._authorize_host, part)
        finally:
            self._in_flight -= 1
            self._changed.set()

    async def _authorize_host(self, part: list[tuple[Reference, anyio.Event]]) -> None:
        """One registry's references of a batch: their events are set when it is done, or has
        taken ``timeout`` seconds."""
        try:
            with anyio.move_on_after(self._timeout) as scope:
                await self._registry.authorize([reference for reference, _ in part])
            if scope.cancelled_caught:
                logger.debug(
                    "audit: authorize %s: no answer in %g s", part[0][0].api_host, self._timeout
                )
        except Exception as exc:  # best effort: the workers meet the failure themselves
            logger.debug("audit: authorize failed: %s", exc)
        finally:
            for _, event in part:
                event.set()

"""``--all-tags`` and ``--catalog``: repositories and registries turned into the references to
audit, listed page by page while the audit runs, and the globs that filter them.

With ``--all-tags`` an input line (or argument) that names a repository without a tag or a digest
(``ghcr.io/acme/api``, ``oci:DIR``) becomes one reference per tag; a line with a tag or a digest is
audited as it is. ``--catalog REGISTRY`` lists the registry's repositories (after the input) and
each becomes its tags, as with ``--all-tags``. The repository globs select the repositories so
listed (by path: ``library/ubuntu``), the tag globs their tags; a line the user wrote with its tag
is never filtered out.

The listing streams: :class:`Expander` hands each page on as it arrives, and asks for the next one
only when the audit's read-ahead has room, so the first records come out before a long list is read
and memory stays flat. Up to :data:`LISTINGS_AHEAD` repositories are listed at once, ahead of the
one being handed on, each holding at most a page; the references still come out in order. A
catalog page's repositories are given to the audit's authorizer together, so that their tags
lists already carry a token (a few token requests for hundreds of repositories). A list that
cannot be read becomes a :class:`ListingFailure`, which the audit writes as an error record in its
place, and the audit goes on.
"""

from __future__ import annotations

import argparse
import fnmatch
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeAlias

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from regimage.cli.session import Session
from regimage.cli.status import UsageError
from regimage.content.oci_layout import OCIReference
from regimage.errors import InvalidReference
from regimage.model.reference import Reference

__all__ = [
    "CATALOG_PAGE",
    "LISTINGS_AHEAD",
    "TAGS_PAGE",
    "Expander",
    "Filters",
    "Item",
    "ListingFailure",
]

#: Tags asked for per page of a tags list (``n``; a registry may send fewer, with a Link to the rest).
TAGS_PAGE = 1000
#: Repositories asked for per page of a catalog.
CATALOG_PAGE = 1000
#: Repositories whose tags are listed at once: the one being handed on and those after it.
LISTINGS_AHEAD = 16


@dataclass(frozen=True, slots=True)
class Filters:
    """``--include-repo``, ``--exclude-repo``, ``--include-tag``, ``--exclude-tag``: fnmatch globs
    (``*`` matches ``/`` too), case-sensitive. A name is kept when it matches one of the includes
    (or there are none) and none of the excludes."""

    include_repo: tuple[str, ...] = ()
    exclude_repo: tuple[str, ...] = ()
    include_tag: tuple[str, ...] = ()
    exclude_tag: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Filters:
        return cls(
            tuple(getattr(args, "include_repo", None) or ()),
            tuple(getattr(args, "exclude_repo", None) or ()),
            tuple(getattr(args, "include_tag", None) or ()),
            tuple(getattr(args, "exclude_tag", None) or ()),
        )

    def __bool__(self) -> bool:
        return bool(self.include_repo or self.exclude_repo or self.include_tag or self.exclude_tag)

    def repository(self, path: str) -> bool:
        """Whether to list the repository at ``path`` (``library/ubuntu``, no registry)."""
        return _kept(path, self.include_repo, self.exclude_repo)

    def tag(self, tag: str) -> bool:
        """Whether to audit ``tag`` of a listed repository."""
        return _kept(tag, self.include_tag, self.exclude_tag)


def _kept(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, glob) for glob in include):
        return False
    return not any(fnmatch.fnmatchcase(name, glob) for glob in exclude)


@dataclass(frozen=True, slots=True)
class ListingFailure:
    """A list that could not be read (or an entry of it that names no image): ``subject`` is the
    repository, the catalog's registry, or the entry; ``catalog`` whether a whole catalog failed."""

    subject: str
    error: BaseException
    catalog: bool = False


#: What the expansion hands on: a reference to audit, or a failure to record in its place.
Item: TypeAlias = str | ListingFailure
#: One repository's pages of items (already filtered), or an item as it is.
_Slot: TypeAlias = Item | MemoryObjectReceiveStream[list[Item]]


class Expander:
    """Turns the input's references into those to audit (:meth:`run`), listing what ``--all-tags``
    and ``--catalog`` ask for. ``authorize`` is the audit's authorizer (``Authorizer.add``), told
    of each repository before its tags are listed; ``timeout`` bounds each page."""

    def __init__(
        self,
        session: Session,
        args: argparse.Namespace,
        *,
        authorize: Callable[[str], anyio.Event | None],
        timeout: float,
    ) -> None:
        self._session = session
        self._all_tags: bool = getattr(args, "all_tags", False)
        self._catalogs: tuple[str, ...] = tuple(getattr(args, "catalog", None) or ())
        self._filters = Filters.from_args(args)
        self._authorize = authorize
        self._timeout = timeout
        if self._filters and not (self._all_tags or self._catalogs):
            raise UsageError(
                "--include-repo, --exclude-repo, --include-tag and --exclude-tag filter what "
                "--all-tags and --catalog list: add one of them"
            )

    async def run(self, texts: AsyncIterator[str], put: Callable[[Item], Awaitable[None]]) -> None:
        """``put`` each reference to audit, in order: ``texts`` as they come, each repository
        expanded, then each catalog's. Returns when all are put."""
        if not (self._all_tags or self._catalogs):
            async for text in texts:
                await put(text)
            return
        send, take = anyio.create_memory_object_stream[_Slot](LISTINGS_AHEAD)
        async with anyio.create_task_group() as group:
            group.start_soon(self._hand_on, take, put, group)
            async with send:
                async for text in texts:
                    await self._plan(text, send, group)
                for registry in self._catalogs:
                    await self._plan_catalog(registry, send, group)

    async def _hand_on(
        self,
        slots: MemoryObjectReceiveStream[_Slot],
        put: Callable[[Item], Awaitable[None]],
        group: TaskGroup,
    ) -> None:
        """Put the slots' items in order; when the audit takes no more, stop every listing."""
        try:
            async with slots:
                async for slot in slots:
                    if isinstance(slot, str | ListingFailure):
                        await put(slot)
                        continue
                    async with slot:
                        async for items in slot:
                            for item in items:
                                await put(item)
        except anyio.BrokenResourceError:  # the audit stopped reading (a budget ran out)
            group.cancel_scope.cancel()

    async def _plan(
        self, text: str, slots: MemoryObjectSendStream[_Slot], group: TaskGroup
    ) -> None:
        """One input line: audited as it is, or (``--all-tags``, no tag, no digest) listed."""
        if not self._all_tags:
            await slots.send(text)
        elif text.startswith("oci:"):
            try:
                layout = OCIReference.parse(text)
            except InvalidReference:
                layout = None  # its record says why
            if layout is None or layout.tag is not None or layout.digest is not None:
                await slots.send(text)
            else:
                group.start_soon(self._list_layout, text, await self._place(slots))
        else:
            try:
                repository = Reference.parse_repository(text)
            except InvalidReference:  # a tag, a digest, or no reference: audited as it is
                await slots.send(text)
                return
            if self._filters.repository(repository.path):
                group.start_soon(self._list_tags, repository, await self._place(slots))

    async def _plan_catalog(
        self, registry: str, slots: MemoryObjectSendStream[_Slot], group: TaskGroup
    ) -> None:
        """One ``--catalog``: its repositories, page by page, each listed."""
        provider = await self._session.registry()
        async with aclosing(provider.catalog_pages(registry, page_size=CATALOG_PAGE)) as pages:
            while True:
                try:
                    page = await self._next_page(pages)
                except Exception as exc:  # refused, or failed on the way: its record says so
                    await slots.send(ListingFailure(registry, exc, catalog=True))
                    return
                if page is None:
                    return
                listed: list[Reference] = []
                for name in page:
                    try:
                        repository = Reference.parse_repository(f"{registry}/{name}")
                    except InvalidReference as exc:  # a name that is no repository's
                        await slots.send(ListingFailure(f"{registry}/{name}", exc))
                        continue
                    if self._filters.repository(repository.path):
                        listed.append(repository)
                for repository in listed:  # their tokens together, before their tags lists
                    self._authorize(repository.name)
                for repository in listed:
                    group.start_soon(self._list_tags, repository, await self._place(slots))

    async def _place(
        self, slots: MemoryObjectSendStream[_Slot]
    ) -> MemoryObjectSendStream[list[Item]]:
        """A place in line for a list (waiting while :data:`LISTINGS_AHEAD` are listed): where
        its pages go."""
        out, slot = anyio.create_memory_object_stream[list[Item]](1)
        await slots.send(slot)
        return out

    async def _list_tags(self, listed: Reference, out: MemoryObjectSendStream[list[Item]]) -> None:
        """A repository's tags, a page at a time, once its token batch is done."""
        async with out:
            authorized = self._authorize(listed.name)
            if authorized is not None:
                with anyio.move_on_after(self._timeout):
                    await authorized.wait()
            try:
                pages = (await self._session.registry()).tag_pages(listed, page_size=TAGS_PAGE)
            except Exception as exc:  # a registry that registries.conf blocks
                await out.send([ListingFailure(listed.name, exc)])
                return
            async with aclosing(pages):
                while True:
                    try:
                        page = await self._next_page(pages)
                    except Exception as exc:
                        await out.send([ListingFailure(listed.name, exc)])
                        return
                    if page is None:
                        return
                    await out.send([_tagged(listed, tag) for tag in page if self._filters.tag(tag)])

    async def _list_layout(self, listed: str, out: MemoryObjectSendStream[list[Item]]) -> None:
        """An OCI layout's names (one read of its index)."""
        async with out:
            try:
                with anyio.fail_after(self._timeout):
                    name, tags = await self._session.layout_tags(listed)
            except Exception as exc:
                await out.send([ListingFailure(listed, exc)])
                return
            await out.send([f"{name}:{tag}" for tag in tags if self._filters.tag(tag)])

    async def _next_page(self, pages: AsyncGenerator[list[str], None]) -> list[str] | None:
        """The next page (None after the last), within the time one reference may take."""
        with anyio.fail_after(self._timeout):
            return await anext(pages, None)


def _tagged(repository: Reference, tag: str) -> Item:
    """``repository:tag``; a listed tag that is not one (a registry's garbage) is recorded as such."""
    try:
        return str(repository.with_tag(tag))
    except InvalidReference as exc:
        return ListingFailure(f"{repository.name}:{tag}", exc)

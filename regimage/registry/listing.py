"""Lists a registry answers page by page: a repository's tags, the catalog, and referrers.

Pages are followed through ``Link: <…>; rel="next"`` on the same host only, each page bounded,
at most :data:`MAX_PAGES` of them, and a link back to a page already read is an error. Tags and
the catalog are also async generators of their pages (``tag_pages``, ``catalog_pages``): the next
page is asked for only once the last one is taken, so a long list streams in flat memory.
Referrers come from the OCI 1.1 API, or from the fallback tag ``<alg>-<hex>`` on registries
without it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import TypeVar

import httpx

import regimage.model.mediatypes as mediatypes
from regimage.errors import InvalidDocument, NotFound, RegistryError
from regimage.http.bounded import read_bounded
from regimage.http.redaction import redact_url
from regimage.http.status import raise_for_status
from regimage.model._json import loads_object
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import Index
from regimage.model.reference import Reference
from regimage.registry.fetch import Fetcher
from regimage.registry.session import RegistrySession
from regimage.registry.verify import base_type

__all__ = ["MAX_LIST_PAGE_BYTES", "MAX_PAGES", "Lister"]

T = TypeVar("T")

#: One page of a tags list, catalog or referrers answer.
MAX_LIST_PAGE_BYTES = 4 * 1024 * 1024
#: Pagination stops (with an error) after this many pages.
MAX_PAGES = 10_000
#: Characters a tag may not hold, replaced by ``-`` in referrers fallback tags (OCI
#: distribution-spec: "<alg>-<ref>").
_NOT_TAG_CHARS = re.compile(r"[^a-zA-Z0-9_.-]", re.ASCII)
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


class Lister:
    """Reads paginated lists through ``session``; ``fetcher`` reads the referrers fallback tag."""

    def __init__(self, session: RegistrySession, fetcher: Fetcher) -> None:
        self._session = session
        self._fetcher = fetcher

    async def _page_iter(
        self,
        host: str,
        target: str,
        *,
        operation: str,
        subject: str,
        repository: str,
        reference: str | None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        first: httpx.Response | None = None,
        parse: Callable[[bytes, str | None], list[T]],
    ) -> AsyncGenerator[list[T], None]:
        """The pages of a paginated answer, each as it arrives, following ``Link: <…>;
        rel="next"`` on one host; ``parse(body, content_type)`` turns each page into items. The
        next page is asked for only when the caller wants it, and no response is open between
        two pages."""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            seen.add(target)
            response = first or await self._session.open(
                "GET",
                host,
                target,
                operation=operation,
                reference=reference,
                params=params,
                headers=headers,
            )
            first = None
            try:
                await raise_for_status(
                    response, subject=subject, repository=repository, reference=reference
                )
            except BaseException:
                await response.aclose()
                raise
            data = await read_bounded(
                response, MAX_LIST_PAGE_BYTES, what=subject, reference=reference
            )
            following = _next_link(response, host)
            if following in seen:
                raise RegistryError(
                    f"{subject} of {repository}: the registry's Link header loops back to "
                    f"{following}",
                    url=redact_url(response.request.url),
                    reference=reference,
                )
            yield parse(data, response.headers.get("content-type"))
            if following is None:
                return
            target, params = following, None
        raise RegistryError(
            f"{subject} of {repository}: more than {MAX_PAGES} pages", reference=reference
        )

    def tag_pages(
        self, reference: Reference, *, page_size: int | None = None
    ) -> AsyncGenerator[list[str], None]:
        """See ``RegistryProvider.tag_pages``."""
        return self._page_iter(
            reference.api_host,
            f"/v2/{reference.path}/tags/list",
            operation="tags",
            subject="tags list",
            repository=reference.name,
            reference=reference.name,
            params={"n": page_size} if page_size else None,
            parse=lambda data, _: _string_list(data, "tags", "tags list"),
        )

    async def tags(self, reference: Reference, *, page_size: int | None = None) -> list[str]:
        """See ``RegistryProvider.tags``."""
        return await _collect(self.tag_pages(reference, page_size=page_size))

    def catalog_pages(self, host: str, *, page_size: int = 1000) -> AsyncGenerator[list[str], None]:
        """See ``RegistryProvider.catalog_pages``; ``host`` is the API host."""
        return self._page_iter(
            host,
            "/v2/_catalog",
            operation="catalog",
            subject="catalog",
            repository=host,
            reference=None,
            params={"n": page_size} if page_size else None,
            parse=lambda data, _: _string_list(data, "repositories", "catalog"),
        )

    async def catalog(self, host: str, *, page_size: int = 1000) -> list[str]:
        """See ``RegistryProvider.catalog``; ``host`` is the API host."""
        return await _collect(self.catalog_pages(host, page_size=page_size))

    async def referrers(
        self, reference: Reference, digest: Digest, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """See ``RegistryProvider.referrers``."""
        params = {"artifactType": artifact_type} if artifact_type else None
        first = await self._session.open(
            "GET",
            reference.api_host,
            f"/v2/{reference.path}/referrers/{digest}",
            operation="referrers",
            reference=str(reference),
            params=params,
            headers={"Accept": mediatypes.OCI_INDEX},
        )
        if first.status_code in (404, 405):
            await first.aclose()
            found = await self._referrers_by_tag(reference, digest)
        else:
            found = await _collect(
                self._page_iter(
                    reference.api_host,
                    first.request.url.raw_path.decode("ascii"),
                    operation="referrers",
                    subject=f"referrers of {digest}",
                    repository=reference.name,
                    reference=str(reference),
                    first=first,
                    parse=_index_entries,
                )
            )
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    async def _referrers_by_tag(self, ref: Reference, digest: Digest) -> list[Descriptor]:
        tag = _NOT_TAG_CHARS.sub("-", f"{digest.algorithm[:32]}-{digest.encoded[:64]}")
        tagged = Reference(ref.domain, ref.path, tag, None)
        try:
            descriptor, data = await self._fetcher.get_manifest(tagged, None)
        except NotFound as exc:
            if any(e.code.upper() == "NAME_UNKNOWN" for e in exc.errors):
                raise
            return []
        return _index_entries(data, descriptor.media_type)


async def _collect(pages: AsyncGenerator[list[T], None]) -> list[T]:
    """Every item of every page, the pages read to the end."""
    items: list[T] = []
    async with aclosing(pages):
        async for page in pages:
            items.extend(page)
    return items


def _next_link(response: httpx.Response, host: str) -> str | None:
    """The path and query of the ``rel="next"`` link, refused if it leaves the registry."""
    for header in response.headers.get_list("link"):
        match = _LINK_NEXT.search(header)
        if match is None:
            continue
        try:
            url = response.request.url.join(match.group(1).strip())
        except httpx.InvalidURL:
            return None
        if url.netloc.decode("ascii") != host:
            raise RegistryError(
                f"the registry's Link header points to another host: {redact_url(url)}",
                url=redact_url(response.request.url),
            )
        return url.raw_path.decode("ascii")
    return None


def _string_list(data: bytes, field: str, what: str) -> list[str]:
    obj = loads_object(data, what=what)
    if field not in obj:
        raise InvalidDocument(f"{what} has no {field!r} field")
    value = obj[field]
    if value is None:  # some registries send null for an empty list
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDocument(f"{what} field {field!r} must be a list of strings")
    return value


def _index_entries(data: bytes, content_type: str | None) -> list[Descriptor]:
    declared = base_type(content_type)
    index = Index.parse(data, declared if mediatypes.is_index(declared) else None)
    return list(index.manifests)

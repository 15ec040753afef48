"""An image: a name and the root descriptor it resolved to, and the answers read from its graph.

The model is containerd's ``images.Image`` (``image.go``): every answer is a walk from the root
(:mod:`regimage.image.walk`, with the handlers of :mod:`regimage.image.handlers`) over any
:class:`~regimage.content.provider.Provider`::

    async with RegistryProvider() as registry:
        image = await Image.resolve("ghcr.io/acme/api:1.4", registry, platform="linux/arm64")
        print((await image.size()).total, await image.rootfs())

What each answer reads (a request each, unless the content is cached or embedded):

* ``manifest()``, ``size()``: the indexes on the path, then the selected manifest. Never a config
  (unless an index entry declares no platform: its config tells), never a layer.
* ``config()``, ``rootfs()``, ``chain_ids()``: the same, plus the config.
* ``unpacked_size()``: the same as ``size()``, plus a few bytes of each distinct compressed layer
  (a range read each: never a whole layer).
* ``platform_sizes()``: every index and manifest below the root; configs only for entries without
  a declared platform.
* ``platforms()``: the indexes; configs only for entries without a declared platform (and for a
  single manifest, whose platform is in its config).

Parsed documents are kept in :attr:`Image.cache` (content is addressed by digest, so it never goes
stale): asking ``size()`` then ``rootfs()`` reads the manifest once.

The answers are plain values (:mod:`regimage.image.answers`); **size** is defined there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from regimage._concurrency import gather_in_order
from regimage.content.provider import Provider, ReferrersProvider, Resolver
from regimage.errors import NoMatchingPlatform, NotAnImage, RegImageError, UnsupportedMediaType
from regimage.image.answers import (
    ImageConfigResult,
    ImageSize,
    PlatformSize,
    PlatformSizes,
    SelectedManifest,
    check_rootfs,
    config_warnings,
    distinct_size,
    image_size,
    under_attestations,
)
from regimage.image.document_cache import DocumentCache
from regimage.image.handlers import (
    ChildrenHandler,
    children,
    filter_platforms,
    indexes_only,
    is_attestation_entry,
    limit_manifests,
    skip_attestations,
)
from regimage.image.unpacked import UnpackedSize, unpacked_size
from regimage.image.walk import DEFAULT_CONCURRENCY, Visit, walk
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import chain_ids
from regimage.model.manifest import Document, Index, Manifest, Schema1Manifest
from regimage.model.mediatypes import is_index, is_manifest, is_schema1
from regimage.model.platform import Platform
from regimage.model.platform_match import (
    PlatformMatcher,
    PlatformSpec,
    default_matcher,
    matcher_for,
)
from regimage.model.reference import Reference

__all__ = ["Image"]


# ── the image ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, repr=False)
class Image:
    """A name and the root descriptor it resolved to, read through ``provider``.

    ``matcher`` chooses among the manifests of an index; None means this machine's platform
    (:func:`~regimage.model.platform_match.default_matcher`). :meth:`resolve` and
    :meth:`with_platform` build it from what a user writes (``"linux/arm64"``, a :class:`Platform`,
    a list…). A single-manifest image is taken whatever its platform unless a platform was asked
    for explicitly (then its config is read and checked, as containerd's ``images.Manifest`` does).
    """

    name: str
    target: Descriptor
    provider: Provider = field(compare=False, repr=False)
    matcher: PlatformMatcher | None = None
    cache: DocumentCache = field(default_factory=DocumentCache, compare=False, repr=False)

    @classmethod
    async def resolve(
        cls,
        reference: str | Reference,
        resolver: Resolver,
        *,
        platform: PlatformSpec = None,
    ) -> Image:
        """Resolve ``reference`` (one request for a tag) and return the image it names."""
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        target = await resolver.resolve(ref)
        matcher = None if platform is None else matcher_for(platform)
        return cls(str(ref), target, resolver.repository(ref), matcher)

    def with_platform(self, spec: PlatformSpec) -> Image:
        """The same image, selecting ``spec`` (None: this machine's). Shares the cache."""
        return replace(self, matcher=None if spec is None else matcher_for(spec))

    @property
    def effective_matcher(self) -> PlatformMatcher:
        """The matcher in effect: the one asked for, else this machine's."""
        return self.matcher if self.matcher is not None else default_matcher()

    def __repr__(self) -> str:
        platform = "" if self.matcher is None else f", platform={str(self.matcher)!r}"
        return f"<Image({self.name!r}, {self.target.digest}{platform})>"

    # ── manifest selection ──────────────────────────────────────────────────────────────────────

    async def manifest(self) -> SelectedManifest:
        """The manifest for the wanted platform, found by walking the indexes from the root.

        Attestation manifests are never selected. Raises NoMatchingPlatform (listing what the
        image offers) when nothing matches, UnsupportedMediaType for a legacy schema1 image.
        """
        handler = self._handler()
        target, root = await self._root(handler)
        if isinstance(root, Manifest):
            return await self._single(handler, target, root)
        matcher = self.effective_matcher
        selecting = limit_manifests(
            filter_platforms(skip_attestations(handler), matcher, platform_of=handler.platform_of),
            matcher,
            1,
        )
        visits = await walk(indexes_only(selecting), target)
        candidates = sorted(
            (v for v in visits if is_manifest(v.descriptor.media_type)),
            key=functools.cmp_to_key(_preference(matcher)),
        )
        if not candidates:
            raise await self._no_match(handler, matcher, visits)
        best = candidates[0]
        document = await handler.document(best.descriptor)
        if not isinstance(document, Manifest):  # pragma: no cover - is_manifest → Manifest
            raise UnsupportedMediaType(
                f"{best.descriptor.digest} is not a manifest", media_type=best.descriptor.media_type
            )
        return SelectedManifest(best.descriptor, document, best.descriptor.platform, best.parents)

    async def _single(
        self, handler: ChildrenHandler, target: Descriptor, manifest: Manifest
    ) -> SelectedManifest:
        platform = target.platform
        if self.matcher is not None and not manifest.is_artifact:
            if platform is None:
                platform = await handler.platform_of(target)
            if platform is not None and not self.matcher.match(platform):
                raise NoMatchingPlatform(
                    f"{self.name} is a single-platform image for {platform.format_all()}, not "
                    f"for {self.matcher}",
                    available=[platform.format_all()],
                    reference=self.name,
                )
        return SelectedManifest(target, manifest, platform)

    async def _no_match(
        self, handler: ChildrenHandler, matcher: PlatformMatcher, visits: Sequence[Visit]
    ) -> RegImageError:
        # The walk's children were filtered; list the indexes' entries (cached) instead.
        entries: list[Descriptor] = []
        for visit in visits:
            if not is_index(visit.descriptor.media_type):
                continue
            document = await handler.document(visit.descriptor)
            if isinstance(document, Index):
                entries += [
                    e
                    for e in document.manifests
                    if not is_index(e.media_type) and not is_attestation_entry(e)
                ]
        platforms = await _platforms_of(handler, entries)
        available = list(dict.fromkeys(p.format_all() for p in platforms if p is not None))
        offered = ", ".join(available) if available else "no platform"
        return NoMatchingPlatform(
            f"{self.name} has no manifest for {matcher}; it offers {offered}",
            available=available,
            reference=self.name,
        )

    # ── config ─────────────────────────────────────────────────────────────────────────────────

    async def config(self) -> ImageConfigResult:
        """The config of the selected manifest. Raises NotAnImage for an OCI artifact."""
        return await self._config_of(await self.manifest())

    async def _config_of(self, selected: SelectedManifest) -> ImageConfigResult:
        manifest = selected.manifest
        if manifest.is_artifact:
            kind = manifest.artifact_type or manifest.config.media_type
            raise NotAnImage(
                f"{self.name} ({selected.digest}) is an OCI artifact of type {kind!r}, not an "
                f"image: its config is {manifest.config.media_type!r}, not an image config, so it "
                "has no diff IDs",
                reference=self.name,
            )
        config = await self._handler().image_config(manifest.config)
        return ImageConfigResult(manifest.config, config)

    async def rootfs(self) -> tuple[Digest, ...]:
        """The diff IDs (digests of the uncompressed layers) of the selected manifest's config.

        Raises RootFSMismatch when the config lists more or fewer diff IDs than the manifest has
        layers: they pair one to one, and containerd refuses to unpack such an image.
        """
        selected = await self.manifest()
        config = (await self._config_of(selected)).config
        check_rootfs(self.name, selected, config)
        return config.diff_ids

    async def chain_ids(self) -> tuple[Digest, ...]:
        """The ChainIDs of :meth:`rootfs` (OCI config.md); the last names the whole filesystem."""
        return chain_ids(await self.rootfs())

    # ── size ───────────────────────────────────────────────────────────────────────────────────

    async def size(self, *, check: bool = False) -> ImageSize:
        """The pull size of the selected platform (DESIGN.md §3), read without the config.

        ``check=True`` also reads the config (one more request) and warns when it disagrees with
        the manifest: a diff ID count other than the layer count, or another platform.
        """
        selected = await self.manifest()
        warnings: list[str] = []
        if check and not selected.manifest.is_artifact:
            config = (await self._config_of(selected)).config
            warnings += config_warnings(selected, config)
        return image_size(selected, tuple(warnings))

    async def unpacked_size(self) -> UnpackedSize:
        """The disk the selected platform's layers take once pulled and unpacked, estimated from a
        few bytes of each layer (:mod:`regimage.image.unpacked`): one range read per distinct
        compressed layer, none for an uncompressed one. Raises NotAnImage for an artifact."""
        selected = await self.manifest()
        return await unpacked_size(self.provider, selected, self.cache.layer_sizes, name=self.name)

    async def platform_sizes(self) -> PlatformSizes:
        """The pull size of every manifest below the root, and the distinct total.

        Reads every index and manifest (never a layer); configs only for entries that declare no
        platform. A single-manifest image gives one entry.
        """
        handler = self._handler()
        target, _ = await self._root(handler)
        visits = await walk(handler, target)
        manifests = [v for v in visits if is_manifest(v.descriptor.media_type)]
        attestation = [is_attestation_entry(v.descriptor) for v in manifests]
        platforms = await _platforms_of(
            handler,
            [v.descriptor for v in manifests],
            skip=attestation,
        )
        entries: list[PlatformSize] = []
        for visit, platform, is_attestation in zip(manifests, platforms, attestation, strict=True):
            document = await handler.document(visit.descriptor)
            if not isinstance(document, Manifest):  # pragma: no cover - is_manifest → Manifest
                continue
            selected = SelectedManifest(visit.descriptor, document, platform, visit.parents)
            entries.append(
                PlatformSize(platform, visit.descriptor, image_size(selected, ()), is_attestation)
            )
        return PlatformSizes(
            tuple(entries),
            distinct_size(visits),
            distinct_size(under_attestations(visits)),
        )

    async def platforms(self) -> list[Platform]:
        """The platforms the image offers, in index order (attestations left out).

        For an index: read from its entries (an entry without one: from its config). For a
        single manifest: from its config (one more request); an artifact has none.
        """
        handler = self._handler()
        target, root = await self._root(handler)
        if isinstance(root, Manifest):
            platform = await handler.platform_of(target)
            return [] if platform is None else [platform]
        visits = await walk(indexes_only(skip_attestations(handler)), target)
        entries = [
            v.descriptor for v in visits if v.depth > 0 and is_manifest(v.descriptor.media_type)
        ]
        found = await _platforms_of(handler, entries)
        return list(dict.fromkeys(p for p in found if p is not None))

    async def referrers(self, artifact_type: str | None = None) -> list[Descriptor]:
        """The manifests whose ``subject`` is this image's root (signatures, SBOMs…)."""
        if not isinstance(self.provider, ReferrersProvider):
            raise RegImageError(
                f"cannot list referrers of {self.name}: {type(self.provider).__name__} does not "
                "support the referrers API"
            )
        return await self.provider.referrers(self.target, artifact_type)

    # ── machinery ──────────────────────────────────────────────────────────────────────────────

    def _handler(self) -> ChildrenHandler:
        return children(self.provider, cache=self.cache)

    async def _root(self, handler: ChildrenHandler) -> tuple[Descriptor, Manifest | Index]:
        """The root document, and the target typed as what it is.

        A target of a generic type (``application/json``) is parsed as its JSON says; the walk then
        starts from a descriptor carrying that type, so that the handlers know what to expand.
        """
        target = self.target
        if is_schema1(target.media_type):
            raise self._schema1_error(target.media_type)
        document: Document = await handler.document(target)
        if isinstance(document, Schema1Manifest):
            raise self._schema1_error(document.media_type)
        if document.media_type != target.media_type:
            target = replace(target, media_type=document.media_type)
            handler.cache.documents.put(handler.cache.key(target), document)
        return target, document

    def _schema1_error(self, media_type: str) -> UnsupportedMediaType:
        return UnsupportedMediaType(
            f"{self.name} is a legacy Docker schema1 manifest ({media_type}): it has no config "
            "or layer sizes; regimage reads Docker schema2 and OCI images only. Re-push it with a "
            "current client (e.g. `skopeo copy --format v2s2`)",
            media_type=media_type,
            reference=self.name,
        )


# ── helpers ────────────────────────────────────────────────────────────────────────────────────────


def _preference(matcher: PlatformMatcher) -> Callable[[Visit, Visit], int]:
    """Compare visits by platform, best first; those without a platform last (as containerd)."""

    def compare(a: Visit, b: Visit) -> int:
        pa, pb = a.descriptor.platform, b.descriptor.platform
        if pa is None or pb is None:
            return (pa is None) - (pb is None)
        if matcher.less(pa, pb):
            return -1
        return 1 if matcher.less(pb, pa) else 0

    return compare


async def _platforms_of(
    handler: ChildrenHandler,
    descriptors: Sequence[Descriptor],
    *,
    skip: Sequence[bool] = (),
) -> list[Platform | None]:
    """The platform of each manifest (declared, else from its config), read concurrently."""

    found: list[Platform | None] = [d.platform for d in descriptors]
    # Declared (or skipped) platforms cost nothing; only the others are read, concurrently.
    unread = [
        i
        for i, d in enumerate(descriptors)
        if d.platform is None and not (i < len(skip) and skip[i])
    ]
    calls = [functools.partial(handler.platform_of, descriptors[i]) for i in unread]
    for i, platform in zip(
        unread, await gather_in_order(calls, limit=DEFAULT_CONCURRENCY), strict=True
    ):
        found[i] = platform
    return found

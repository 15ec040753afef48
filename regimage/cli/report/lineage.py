"""``report --built-on REF``: every audited image whose chain IDs begin with REF's, per platform.

REF's chain IDs come from the database when REF was audited with ``--config`` (its latest
successful audit; a reference by digest: the document itself), else from the registry (REF
resolved, each platform's config read: the only requests ``report`` ever makes). A chain ID names
a layer and every layer under it, in order, so an image is built on a base of ``n`` layers exactly
when the chain ID of its layer ``n - 1`` is the base's last: one indexed lookup per platform of
the base (:func:`regimage.cli.report.queries.manifests_with_chain`).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from regimage.cli.report import queries
from regimage.cli.report.answers import BaseImage, Descendant, Lineage
from regimage.cli.report.graph import Contents, Holding, Latest, hold
from regimage.cli.status import UsageError
from regimage.model.mediatypes import is_index
from regimage.model.reference import Reference

if TYPE_CHECKING:
    from regimage.cli.session import Session

__all__ = ["built_on"]

#: A base's manifests: digest, platform (``os/arch[/variant]`` or None), chain IDs.
_Manifests = list[tuple[str, str | None, tuple[str, ...]]]


async def built_on(
    session: Session,
    connection: sqlite3.Connection,
    text: str,
    latest: list[Latest],
    held: dict[str, Holding],
    contents: Contents,
) -> Lineage:
    """The images built on ``text`` (a reference, or ``oci:DIR[:TAG]``), among the ``latest``
    audits (``held``: what each of their roots holds)."""
    platforms = contents.platforms
    (with_chain_ids,) = connection.execute("SELECT EXISTS (SELECT 1 FROM diff_ids)").fetchone()
    if not with_chain_ids:
        raise UsageError(
            "--built-on compares chain IDs, and this audit database has none: audit with "
            "--db FILE --config (which reads each image's config)"
        )
    reference, root, manifests = _from_database(connection, text, held, contents)
    source = "database"
    if root is None or not any(chain for _, _, chain in manifests):
        reference, root, manifests = await _from_registry(session, text)
        source = "registry"
    holders: dict[str, list[str]] = {}
    for holder, holding in held.items():
        for manifest in holding.manifests:
            holders.setdefault(manifest, []).append(holder)
    names: dict[str, list[str]] = {}
    for ref in latest:
        if ref.digest is not None:
            names.setdefault(ref.digest, []).append(ref.reference)
    bases = []
    for manifest, platform, chain in manifests:
        if not chain:  # an artifact, or a config without layers: nothing to build on
            continue
        found = [
            Descendant(name, holder, child, platforms.get(child), count, count - len(chain))
            for child, count in queries.manifests_with_chain(connection, chain[-1], len(chain))
            for holder in holders.get(child, ())
            if holder != root
            for name in names.get(holder, ())
        ]
        found.sort(key=lambda d: (d.added, d.reference, d.manifest))
        bases.append(BaseImage(platform, manifest, len(chain), chain[-1], tuple(found)))
    if not bases:
        raise UsageError(f"{text} has no layers to build on: it is not an image")
    audited = {m for holding in held.values() for m in holding.manifests}
    return Lineage(
        reference=reference,
        digest=root,
        source=source,
        platforms=tuple(bases),
        without_chain_ids=len(audited & queries.without_chain_ids(connection)),
    )


def _from_database(
    connection: sqlite3.Connection,
    text: str,
    held: dict[str, Holding],
    contents: Contents,
) -> tuple[str, str | None, _Manifests]:
    """REF's normalized name, root and manifests as the database knows them (root None: not
    audited)."""
    if text.startswith("oci:"):
        reference, digest = text, None
    else:
        parsed = Reference.parse(text)
        reference, digest = str(parsed), parsed.digest
    root = queries.root_of(connection, reference, None if digest is None else str(digest))
    if root is None:
        return reference, None, []
    # Not among the latest audits' roots when its latest audit failed (its last success
    # stands for it) or a reference by digest names a manifest inside an index.
    holding = held.get(root) or hold(contents, [root])[root]
    return (
        reference,
        root,
        [
            (m, contents.platforms.get(m), queries.chain_ids(connection, m))
            for m in holding.manifests
        ],
    )


async def _from_registry(session: Session, text: str) -> tuple[str, str, _Manifests]:
    """REF's name, root and manifests (with chain IDs) as the registry (or layout) serves them;
    platforms normalized, as the database writes them."""
    image = await session.image(text)
    root = str(image.target.digest)
    if not is_index(image.target.media_type):
        platforms = await image.platforms()
        platform = str(platforms[0].normalized()) if platforms else None
        chain = tuple(str(c) for c in await image.chain_ids())
        return image.name, root, [(root, platform, chain)]
    manifests: _Manifests = []
    seen: set[str] = set()
    for offered in await image.platforms():
        one = image.with_platform(offered)
        selected = await one.manifest()
        if str(selected.digest) in seen or selected.manifest.is_artifact:
            continue
        seen.add(str(selected.digest))
        chain = tuple(str(c) for c in await one.chain_ids())
        manifests.append((str(selected.digest), str(offered.normalized()), chain))
    return image.name, root, manifests

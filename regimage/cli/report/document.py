"""The ``report --json`` document (schema 1; its keys are listed in the README)."""

from __future__ import annotations

from typing import Any

from regimage.cli.report.answers import (
    BaseImage,
    BigImage,
    Coverage,
    Descendant,
    Lineage,
    Report,
    RepositoryStorage,
    SameDigest,
    SharedLayer,
)

__all__ = ["report_document"]


def report_document(report: Report) -> dict[str, Any]:
    """The whole report as one JSON object (``schema`` is added by the writer)."""
    totals, storage = report.totals, report.storage
    return {
        "database": report.database,
        "runs": totals.runs,
        "lastRun": totals.last_run,
        "references": {"total": totals.references, "ok": totals.ok, "failed": totals.failed},
        "images": totals.images,
        "storage": {
            "size": storage.size,
            "attestationSize": storage.attestations,
            "naiveSize": storage.naive,
            "savedSize": storage.saved,
            "repositories": [_repository(r) for r in storage.repositories],
        },
        "biggest": [_big(image) for image in report.biggest],
        "sameDigest": {
            "count": report.same_digest_count,
            "digests": [_same(group) for group in report.same_digest],
        },
        "sharedLayers": {
            "count": report.shared_layer_count,
            "layers": [_layer(layer) for layer in report.shared_layers],
        },
        "sizeDistribution": [
            {"from": b.low, "to": b.high, "images": b.images} for b in report.distribution
        ],
        "platforms": [_coverage(c) for c in report.coverage],
        "builtOn": None if report.lineage is None else _lineage(report.lineage),
    }


def _repository(r: RepositoryStorage) -> dict[str, Any]:
    return {
        "repository": r.repository,
        "references": r.references,
        "images": r.images,
        "size": r.size,
        "attestationSize": r.attestations,
        "naiveSize": r.naive,
        "savedSize": r.saved,
    }


def _big(image: BigImage) -> dict[str, Any]:
    return {
        "digest": image.digest,
        "kind": image.kind,
        "size": image.size,
        "attestationSize": image.attestations,
        "platforms": list(image.platforms),
        "references": list(image.references),
    }


def _same(group: SameDigest) -> dict[str, Any]:
    return {"digest": group.digest, "size": group.size, "references": list(group.references)}


def _layer(layer: SharedLayer) -> dict[str, Any]:
    return {
        "digest": layer.digest,
        "mediaType": layer.media_type,
        "size": layer.size,
        "images": layer.images,
        "repositories": layer.repositories,
        "savedSize": layer.saved,
    }


def _coverage(c: Coverage) -> dict[str, Any]:
    return {
        "repository": c.repository,
        "platforms": [{"platform": p.platform, "references": p.references} for p in c.platforms],
        "lacking": [{"reference": ref, "missing": list(missing)} for ref, missing in c.lacking],
        "unknown": list(c.unknown),
    }


def _lineage(lineage: Lineage) -> dict[str, Any]:
    return {
        "reference": lineage.reference,
        "digest": lineage.digest,
        "source": lineage.source,
        "platforms": [_base(base) for base in lineage.platforms],
        "withoutChainIDs": lineage.without_chain_ids,
    }


def _base(base: BaseImage) -> dict[str, Any]:
    return {
        "platform": base.platform,
        "manifestDigest": base.manifest,
        "layers": base.layers,
        "chainID": base.chain_id,
        "images": [_descendant(d) for d in base.descendants],
    }


def _descendant(d: Descendant) -> dict[str, Any]:
    return {
        "reference": d.reference,
        "digest": d.digest,
        "manifestDigest": d.manifest,
        "platform": d.platform,
        "layers": d.layers,
        "addedLayers": d.added,
    }

"""The report for a terminal: a few aligned tables (:func:`regimage.cli.output.table`, which
escapes the registry's text for the terminal as every human line of the command line is)."""

from __future__ import annotations

from regimage.cli.output import human_size, table
from regimage.cli.report.answers import Coverage, Lineage, Report, Storage

__all__ = ["report_lines", "short_digest"]

#: Hex digits of a digest shown in a table (the full digest is in --json and the page's titles).
SHORT_HEX = 12


def short_digest(digest: str) -> str:
    """``sha256:82f5eb5f0c41…``: enough to tell digests apart at a glance."""
    algorithm, _, encoded = digest.partition(":")
    return digest if len(encoded) <= SHORT_HEX else f"{algorithm}:{encoded[:SHORT_HEX]}…"


def report_lines(report: Report, *, top: int) -> list[str]:
    """The human report, section by section."""
    totals = report.totals
    runs = f"{totals.runs} run{_s(totals.runs)}"
    if totals.last_run:
        runs += f", the latest started {totals.last_run}"
    lines = [
        f"audit database  {report.database} ({runs})",
        f"references      {totals.references} ({totals.ok} ok, {totals.failed} failed at their "
        "latest audit)",
        f"images          {totals.images} distinct digests",
    ]
    lines += ["", *_storage(report.storage)]
    if report.biggest:
        lines += ["", f"the {len(report.biggest)} biggest images"]
        rows = [["SIZE", "DIGEST", "PLATFORMS", "REFERENCES"]]
        for image in report.biggest:
            platforms = ", ".join(image.platforms) or "-"
            rows += _first_then_rest(
                [human_size(image.size), short_digest(image.digest), platforms],
                image.references,
            )
        lines += table(rows, indent="  ")
    lines += ["", *_same_digest(report, top)]
    lines += ["", *_shared_layers(report, top)]
    if report.distribution:
        lines += ["", "size distribution (images)", *_histogram(report)]
    lines += ["", "platforms per repository", *_coverage(report.coverage)]
    if report.lineage is not None:
        lines += ["", *_lineage(report.lineage)]
    return lines


def _storage(storage: Storage) -> list[str]:
    rows = [["REPOSITORY", "REFS", "IMAGES", "STORED", "NAIVE SUM", "SAVED"]]
    for r in storage.repositories:
        rows.append(
            [
                r.repository,
                str(r.references),
                str(r.images),
                human_size(r.size),
                human_size(r.naive),
                _saved(r.saved, r.naive),
            ]
        )
    references = sum(r.references for r in storage.repositories)
    images = sum(r.images for r in storage.repositories)
    rows.append(
        [
            "every repository",
            str(references),
            str(images),
            human_size(storage.size),
            human_size(storage.naive),
            _saved(storage.saved, storage.naive),
        ]
    )
    lines = ["storage: each digest counted once, against the sum of each reference's image"]
    lines += table(rows, indent="  ")
    if storage.attestations:
        lines.append(
            f"  attestations: {human_size(storage.attestations)} of the "
            f"{human_size(storage.size)} stored"
        )
    return lines


def _same_digest(report: Report, top: int) -> list[str]:
    count = report.same_digest_count
    if not count:
        return ["tags sharing one digest: none"]
    lines = [f"tags sharing one digest ({count} digest{_s(count)}{_shown(count, top)})"]
    rows = [["DIGEST", "SIZE", "REFERENCES"]]
    for group in report.same_digest:
        head = [short_digest(group.digest), human_size(group.size)]
        rows += _first_then_rest(head, group.references)
    return lines + table(rows, indent="  ")


def _shared_layers(report: Report, top: int) -> list[str]:
    count = report.shared_layer_count
    if not count:
        return ["layers shared by several images: none"]
    lines = [
        f"layers shared by the most images ({count} layer{_s(count)} shared{_shown(count, top)})"
    ]
    rows = [["LAYER", "SIZE", "IMAGES", "REPOSITORIES", "SAVED"]]
    rows += [
        [
            short_digest(layer.digest),
            human_size(layer.size),
            str(layer.images),
            str(layer.repositories),
            human_size(layer.saved),
        ]
        for layer in report.shared_layers
    ]
    return lines + table(rows, indent="  ")


def _histogram(report: Report) -> list[str]:
    most = max(b.images for b in report.distribution)
    rows = []
    for b in report.distribution:
        bar = "█" * round(30 * b.images / most) if b.images else ""
        rows.append([f"{human_size(b.low)} – {human_size(b.high)}", str(b.images), bar])
    return table(rows, indent="  ")


def _coverage(coverage: tuple[Coverage, ...]) -> list[str]:
    rows = [["REPOSITORY", "PLATFORMS (REFERENCES)"]]
    notes: list[list[str]] = []
    for c in coverage:
        offered = ", ".join(f"{p.platform} ({p.references})" for p in c.platforms) or "unknown"
        rows.append([c.repository, offered])
    lines = table(rows, indent="  ")
    for c in coverage:
        notes += [[reference, "lacks " + ", ".join(missing)] for reference, missing in c.lacking]
        notes += [
            [reference, "platform unknown (no index, config not read)"] for reference in c.unknown
        ]
    if notes:
        lines += [
            "",
            "references lacking a platform their repository offers",
            *table(notes, indent="  "),
        ]
    else:
        lines.append("  every reference offers every platform of its repository")
    return lines


def _lineage(lineage: Lineage) -> list[str]:
    lines = [
        f"built on {lineage.reference} ({short_digest(lineage.digest)}, chain IDs from the "
        f"{lineage.source})"
    ]
    for base in lineage.platforms:
        count = len(base.descendants)
        lines.append(
            f"  {base.platform or 'no platform'}: {base.layers} layer{_s(base.layers)}, chain ID "
            f"{short_digest(base.chain_id)}; {count} image{_s(count)} built on it"
        )
        rows = [["ADDS", "REFERENCE", "PLATFORM", "MANIFEST"]]
        rows += [
            [f"+{d.added}", d.reference, d.platform or "-", short_digest(d.manifest)]
            for d in base.descendants
        ]
        if base.descendants:
            lines += table(rows, indent="    ")
    if lineage.without_chain_ids:
        n = lineage.without_chain_ids
        lines.append(
            f"  {n} audited manifest{_s(n)} ha{'s' if n == 1 else 've'} no chain IDs (audited "
            "without --config) and could not be compared"
        )
    return lines


def _first_then_rest(head: list[str], references: tuple[str, ...]) -> list[list[str]]:
    """A row with the first reference, and a row per other reference under it."""
    blank = [""] * len(head)
    first, *rest = references or ("-",)
    return [[*head, first], *([*blank, ref] for ref in rest)]


def _saved(saved: int, naive: int) -> str:
    return f"{human_size(saved)} ({100 * saved / naive:.0f} %)" if naive else "-"


def _shown(count: int, top: int) -> str:
    return f", the {top} most shown" if count > top else ""


def _s(n: int) -> str:
    return "" if n == 1 else "s"

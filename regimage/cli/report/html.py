"""``report --html FILE``: the report as one self-contained page.

Everything is in the file: the style sheet inline, the charts as inline SVG
(:mod:`regimage.cli.report.charts`), no script, no font, no image to fetch; a
Content-Security-Policy that allows nothing else (``default-src 'none'``) makes the browser refuse
any request the page would make. Every text that comes from a registry or the database
(references, repositories, platforms, media types) goes through
:func:`~regimage.cli.report.charts.escape`. The exact numbers are in ``data-`` attributes beside
the human ones, the same as ``report --json``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from regimage._version import __version__
from regimage.cli.output import human_size
from regimage.cli.report.answers import Lineage, Report
from regimage.cli.report.charts import escape, histogram, sharing_bars, storage_bars
from regimage.cli.report.text import short_digest

__all__ = ["CONTENT_SECURITY_POLICY", "page"]

#: Nothing may be fetched; inline style is the page's own, and ``data:`` for the empty favicon.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#5d6678;
--line:#e2e5eb;--accent:#2f6fde;--naive:#c9d7f2;--shared:#1f9d74;--warn:#b5531c;--chip:#eef2f8}
@media (prefers-color-scheme:dark){:root{--bg:#14171d;--card:#1c2029;--fg:#e6e9ef;--muted:#9aa3b5;
--line:#2c3240;--accent:#5b93f5;--naive:#34446a;--shared:#3cc79a;--warn:#f08a4b;--chip:#262c38}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 20px 60px}
header h1{margin:0;font-size:26px}
header p{margin:4px 0 0;color:var(--muted)}
h2{font-size:19px;margin:0 0 4px}
.note{color:var(--muted);margin:0 0 14px;font-size:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 22px;
margin-top:20px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:14px;
background:none;border:0;padding:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .value{display:block;font-size:24px;font-weight:650;letter-spacing:-.01em}
.card .what{color:var(--muted);font-size:13px}
.card.good .value{color:var(--shared)}
.chart{width:100%;height:auto;display:block;margin:6px 0 14px;font-size:12px}
.chart text{fill:var(--fg)}
.chart .label,.chart .tick{fill:var(--muted)}
.chart .mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.chart .bar{fill:var(--accent)}
.chart .bar.shared{fill:var(--shared)}
.chart .naive{fill:var(--naive)}
.chart .axis{stroke:var(--muted)}
.chart .grid{stroke:var(--line);stroke-dasharray:3 3}
.chart .row:hover .bar,.chart .column:hover .bar{opacity:.8}
.scroll{max-height:30rem;overflow:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:14px}
th{position:sticky;top:0;background:var(--card);text-align:left;font-weight:600;color:var(--muted);
border-bottom:1px solid var(--line)}
th,td{padding:6px 10px;vertical-align:top}
tr+tr td{border-top:1px solid var(--line)}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.name{overflow-wrap:anywhere}
code{font-size:13px}
.chip{display:inline-block;background:var(--chip);border-radius:999px;padding:1px 9px;margin:2px 4px
2px 0;font-size:13px;white-space:nowrap}
.lacks{color:var(--warn)}
.empty{color:var(--muted);font-style:italic;margin:0}
footer{color:var(--muted);font-size:13px;margin-top:26px;text-align:center}
"""


def page(report: Report, *, top: int) -> str:
    """The whole page."""
    body = [
        _header(report),
        _cards(report),
        _storage(report, top),
        _biggest(report),
        _distribution(report),
        _sharing(report, top),
        _same_digest(report, top),
        _coverage(report),
    ]
    if report.lineage is not None:
        body.append(_built_on(report.lineage))
    body.append(f"<footer>made by regimage {escape(__version__)} from the audit database</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>Registry audit: {escape(report.database)}</title><style>{_STYLE}</style>"
        "</head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def _header(report: Report) -> str:
    totals = report.totals
    runs = f"{totals.runs} audit run{_s(totals.runs)}"
    if totals.last_run:
        runs += f", the latest started {escape(totals.last_run)}"
    return (
        f"<header><h1>Registry audit</h1><p><code>{escape(report.database)}</code> · {runs}</p>"
        "</header>"
    )


def _cards(report: Report) -> str:
    totals, storage = report.totals, report.storage
    percent = f"{100 * storage.saved / storage.naive:.0f} %" if storage.naive else "–"
    cards = [
        ("stored", storage.size, "stored: every digest once", ""),
        ("naive", storage.naive, "naive sum: each reference on its own", ""),
        ("saved", storage.saved, f"saved by sharing ({percent})", " good"),
    ]
    html = [
        f'<div class="card{extra}" id="card-{key}" data-bytes="{value}">'
        f'<span class="value">{human_size(value)}</span><span class="what">{what}</span></div>'
        for key, value, what, extra in cards
    ]
    counts = [
        ("references", totals.references, f"references ({totals.ok} ok, {totals.failed} failed)"),
        ("images", totals.images, "images (distinct digests)"),
        ("repositories", len(storage.repositories), "repositories"),
    ]
    html += [
        f'<div class="card" id="card-{key}" data-count="{value}">'
        f'<span class="value">{value:,}</span><span class="what">{what}</span></div>'
        for key, value, what in counts
    ]
    return f'<section class="cards">{"".join(html)}</section>'


def _storage(report: Report, top: int) -> str:
    storage = report.storage
    shown = storage.repositories[:top]
    note = (
        "What each repository stores, every digest (manifest, config, layer) counted once, "
        "against the naive sum of its references' images."
    )
    if len(storage.repositories) > top:
        note += f" The chart shows the {top} largest of {len(storage.repositories)}."
    rows = [
        [
            _name(r.repository),
            _count(r.references),
            _count(r.images),
            _bytes(r.size),
            _bytes(r.naive),
            _bytes(r.saved),
            _bytes(r.attestations),
        ]
        for r in storage.repositories
    ]
    header = [
        "repository",
        "#references",
        "#images",
        "#stored",
        "#naive sum",
        "#saved",
        "#attestations",
    ]
    table = _table("storage-table", header, rows)
    return _section("storage", "Storage by repository", note, storage_bars(shown) + table)


def _biggest(report: Report) -> str:
    rows = [
        [
            _bytes(image.size),
            _digest(image.digest),
            f"<td>{_chips(image.platforms)}</td>",
            _names(image.references),
        ]
        for image in report.biggest
    ]
    table = _table("biggest-table", ["#size", "digest", "platforms", "references"], rows)
    note = "Each image's digests counted once, its attestations included."
    return _section("biggest", f"The {len(report.biggest)} biggest images", note, table)


def _distribution(report: Report) -> str:
    note = "How many images weigh how much (bins of 1, 2, 5 × 10ⁿ bytes)."
    return _section("distribution", "Size distribution", note, histogram(report.distribution))


def _sharing(report: Report, top: int) -> str:
    count = report.shared_layer_count
    note = f"{count} layer{_s(count)} held by two images or more"
    note += f"; the {top} most shared:" if count > top else ":"
    rows = [
        [
            _digest(layer.digest),
            _bytes(layer.size),
            _count(layer.images),
            _count(layer.repositories),
            _bytes(layer.saved),
        ]
        for layer in report.shared_layers
    ]
    header = ["layer", "#size", "#images", "#repositories", "#saved"]
    content = sharing_bars(report.shared_layers) + _table("shared-table", header, rows)
    return _section("sharing", "Layers shared by the most images", note, content)


def _same_digest(report: Report, top: int) -> str:
    count = report.same_digest_count
    note = f"{count} digest{_s(count)} named by two references or more"
    note += f"; the {top} most named:" if count > top else "."
    rows = [
        [
            _digest(group.digest),
            _bytes(group.size),
            _names(group.references),
        ]
        for group in report.same_digest
    ]
    table = _table("same-digest-table", ["digest", "#size", "references"], rows)
    return _section("same-digest", "Tags that share one digest", note, table)


def _coverage(report: Report) -> str:
    rows = []
    for c in report.coverage:
        offered = "".join(
            f'<span class="chip" data-platform="{escape(p.platform)}" data-count="{p.references}">'
            f"{escape(p.platform)} · {p.references}</span>"
            for p in c.platforms
        )
        gaps = [
            f'<div class="lacks">{escape(_within(c.repository, reference))} lacks '
            f"{escape(', '.join(missing))}</div>"
            for reference, missing in c.lacking
        ]
        gaps += [
            f"<div>{escape(_within(c.repository, r))}: platform unknown</div>" for r in c.unknown
        ]
        rows.append(
            [_name(c.repository), f"<td>{offered or 'unknown'}</td>", f"<td>{''.join(gaps)}</td>"]
        )
    with_gaps = sum(1 for c in report.coverage if c.lacking)
    note = (
        "The platforms each repository's images offer (with how many references offer each), "
        f"and the references that lack one of them: {with_gaps} of {len(report.coverage)} "
        f"repositor{'y' if len(report.coverage) == 1 else 'ies'} have such gaps."
    )
    table = _table("coverage-table", ["repository", "platforms", "gaps"], rows)
    return _section("platforms", "Platform coverage", note, table)


def _built_on(lineage: Lineage) -> str:
    parts = []
    for base in lineage.platforms:
        rows = [
            [
                _count(d.added, prefix="+"),
                _name(d.reference),
                f"<td>{escape(d.platform or '–')}</td>",
                _digest(d.manifest),
            ]
            for d in base.descendants
        ]
        platform = escape(base.platform or "no platform")
        parts.append(
            f"<h3>{platform}: {base.layers} layer{_s(base.layers)}, "
            f"{len(base.descendants)} image{_s(len(base.descendants))} built on it</h3>"
            + _table(None, ["#adds layers", "reference", "platform", "manifest"], rows)
        )
    note = (
        f"Every audited image whose chain IDs begin with those of {escape(lineage.reference)} "
        f"(chain IDs from the {escape(lineage.source)})."
    )
    if lineage.without_chain_ids:
        n = lineage.without_chain_ids
        note += (
            f" {n} audited manifest{_s(n)} ha{'s' if n == 1 else 've'} no chain IDs (audited "
            "without --config) and could not be compared."
        )
    return _section("built-on", f"Built on {escape(lineage.reference)}", note, "".join(parts))


# ── pieces ─────────────────────────────────────────────────────────────────────────────────────


def _section(element_id: str, title: str, note: str, content: str) -> str:
    return (
        f'<section id="{element_id}"><h2>{title}</h2><p class="note">{note}</p>'
        f"{content or '<p class=empty>nothing to show</p>'}</section>"
    )


def _table(element_id: str | None, header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; a header cell that starts with ``#`` is a number column."""
    heads = "".join(
        f'<th class="num">{h[1:]}</th>' if h.startswith("#") else f"<th>{h}</th>" for h in header
    )
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    if not body:
        return '<p class="empty">none</p>'
    attribute = f' id="{element_id}"' if element_id else ""
    return (
        f'<div class="scroll"><table{attribute}><thead><tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _bytes(n: int) -> str:
    return f'<td class="num" data-bytes="{n}" title="{n:,} bytes">{human_size(n)}</td>'


def _count(n: int, *, prefix: str = "") -> str:
    return f'<td class="num" data-count="{n}">{prefix}{n:,}</td>'


def _digest(digest: str) -> str:
    """A digest cell: the short form, the whole digest in its tooltip."""
    return f'<td><code title="{escape(digest)}">{escape(short_digest(digest))}</code></td>'


def _name(text: str) -> str:
    return f'<td class="name">{escape(text)}</td>'


def _names(references: Sequence[str]) -> str:
    return f'<td class="name">{"<br>".join(escape(r) for r in references)}</td>'


def _chips(platforms: Sequence[str]) -> str:
    return "".join(f'<span class="chip">{escape(p)}</span>' for p in platforms) or "–"


def _within(repository: str, reference: str) -> str:
    """A reference as its repository's row shows it: ``api:1.4`` for ``ghcr.io/acme/api:1.4``."""
    rest = reference.removeprefix(repository)
    if rest == reference or rest[:1] not in (":", "@"):
        return reference
    return repository.rsplit("/", 1)[-1] + rest


def _s(n: int) -> str:
    return "" if n == 1 else "s"

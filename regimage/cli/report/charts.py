"""The report page's charts, as inline SVG written here: storage by repository (bars), the size
distribution (a histogram) and the layers shared by the most images (bars).

No script draws them and no font or image is fetched: each chart is plain SVG markup, coloured by
the page's style sheet (its classes), with a ``<title>`` on every bar (the browser's tooltip) and
the exact numbers in ``data-`` attributes. Every text that comes from a registry (repository
names) goes through :func:`escape`.
"""

from __future__ import annotations

import html
import math

from regimage.cli.output import human_size
from regimage.cli.report.answers import RepositoryStorage, SharedLayer, SizeBin
from regimage.cli.terminal import terminal_text

__all__ = ["escape", "histogram", "sharing_bars", "storage_bars"]

#: The width of every chart's coordinate system (it scales to the page's width).
WIDTH = 760
#: Room for the labels left of horizontal bars, and for the value right of them.
LABEL_WIDTH, VALUE_WIDTH = 270, 150
#: Height of one horizontal bar's row.
ROW = 26
#: Characters of a label that fit in LABEL_WIDTH at the charts' font size.
LABEL_CHARS = 36
#: The widest a histogram's column gets (a few bins must not make slabs).
MAX_COLUMN = 90
#: The least room between two size labels under the histogram.
TICK_SPACING = 64


def escape(text: str) -> str:
    """Registry text for HTML: control and format characters made visible as escapes (as on a
    terminal: a bidi override must not disguise a name), then ``& < > " '`` escaped."""
    return html.escape(terminal_text(text), quote=True)


def storage_bars(repositories: tuple[RepositoryStorage, ...]) -> str:
    """A bar per repository: what it stores (each digest once) over its naive sum."""
    if not repositories:
        return ""
    scale = max(max(r.naive, r.size) for r in repositories) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = []
    for i, r in enumerate(repositories):
        y = i * ROW
        naive = span * r.naive / scale
        stored = span * r.size / scale
        tip = (
            f"{r.repository}: {human_size(r.size)} stored, {human_size(r.naive)} naive sum, "
            f"{r.references} references, {r.images} images"
        )
        parts.append(
            f'<g class="row" data-repository="{escape(r.repository)}" data-bytes="{r.size}" '
            f'data-naive="{r.naive}"><title>{escape(tip)}</title>'
            f"{_label(r.repository, y)}"
            f'<rect class="naive" x="{LABEL_WIDTH}" y="{y + 4}" width="{naive:.1f}" '
            f'height="{ROW - 8}" rx="3"/>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 4}" width="{max(stored, 1):.1f}" '
            f'height="{ROW - 8}" rx="3"/>'
            f'<text class="value" x="{LABEL_WIDTH + max(naive, stored) + 8:.1f}" '
            f'y="{y + ROW / 2 + 4}">{human_size(r.size)}</text></g>'
        )
    legend = (
        f'<g class="legend" transform="translate({LABEL_WIDTH},{len(repositories) * ROW + 12})">'
        '<rect class="bar" width="12" height="12" rx="2"/>'
        '<text x="18" y="10">stored: each digest once</text>'
        '<rect class="naive" x="190" width="12" height="12" rx="2"/>'
        '<text x="208" y="10">naive sum: each reference on its own</text></g>'
    )
    height = len(repositories) * ROW + 32
    return _svg("storage-chart", "Storage by repository", height, "".join(parts) + legend)


def histogram(bins: tuple[SizeBin, ...]) -> str:
    """A column per size bin, its image count above it."""
    if not bins:
        return ""
    most = max(b.images for b in bins) or 1
    bottom, top, plot_height = 44, 18, 190
    width = min((WIDTH - 50) / len(bins), MAX_COLUMN)
    left = max(40, (WIDTH - len(bins) * width) / 2)  # a few columns: in the middle
    parts = [
        f'<line class="axis" x1="{left:.1f}" y1="{top + plot_height}" '
        f'x2="{left + len(bins) * width:.1f}" y2="{top + plot_height}"/>'
    ]
    for fraction in (0.5, 1.0):
        y = top + plot_height * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{left:.1f}" y1="{y:.1f}" x2="{left + len(bins) * width:.1f}" '
            f'y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_round(most * fraction)}</text>"
        )
    for i, b in enumerate(bins):
        x = left + i * width
        h = plot_height * b.images / most
        y = top + plot_height - h
        label = f"{human_size(b.low)} – {human_size(b.high)}"
        parts.append(
            f'<g class="column" data-from="{b.low}" data-to="{b.high}" data-images="{b.images}">'
            f"<title>{b.images} image{'' if b.images == 1 else 's'} of {label}</title>"
            f'<rect class="bar" x="{x + 2:.1f}" y="{y:.1f}" width="{max(width - 4, 1):.1f}" '
            f'height="{h:.1f}" rx="2"/>'
        )
        if b.images:
            parts.append(
                f'<text class="count" x="{x + width / 2:.1f}" y="{y - 4:.1f}" '
                f'text-anchor="middle">{b.images}</text>'
            )
        parts.append("</g>")
    every = math.ceil(TICK_SPACING / width)  # label every n-th edge, so that labels never touch
    edges = [b.low for b in bins] + [bins[-1].high]
    parts += [
        f'<text class="tick" x="{left + k * width:.1f}" y="{top + plot_height + 16}" '
        f'text-anchor="middle">{human_size(edge)}</text>'
        for k, edge in enumerate(edges)
        if k % every == 0
    ]
    height = top + plot_height + bottom
    return _svg("size-chart", "Image size distribution", height, "".join(parts))


def sharing_bars(layers: tuple[SharedLayer, ...]) -> str:
    """A bar per shared layer: how many images hold it."""
    if not layers:
        return ""
    most = max(layer.images for layer in layers)
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = []
    for i, layer in enumerate(layers):
        y = i * ROW
        length = span * layer.images / most
        algorithm, _, encoded = layer.digest.partition(":")
        name = f"{algorithm}:{encoded[:12]}  {human_size(layer.size)}"
        tip = (
            f"{layer.digest} ({human_size(layer.size)}): in {layer.images} images of "
            f"{layer.repositories} repositories; sharing saves {human_size(layer.saved)}"
        )
        parts.append(
            f'<g class="row" data-digest="{escape(layer.digest)}" data-images="{layer.images}">'
            f"<title>{escape(tip)}</title>{_label(name, y, mono=True)}"
            f'<rect class="bar shared" x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" '
            f'height="{ROW - 8}" rx="3"/>'
            f'<text class="value" x="{LABEL_WIDTH + length + 8:.1f}" y="{y + ROW / 2 + 4}">'
            f"{layer.images} images</text></g>"
        )
    height = len(layers) * ROW + 4
    return _svg("sharing-chart", "Layers shared by the most images", height, "".join(parts))


def _svg(element_id: str, title: str, height: float, body: str) -> str:
    return (
        f'<svg id="{element_id}" class="chart" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'role="img" aria-label="{title}">'
        f"<title>{title}</title>{body}</svg>"
    )


def _label(text: str, y: float, *, mono: bool = False) -> str:
    """A row's label, right-aligned against its bar; a long one loses its start (the end of a
    repository name is what tells it from its neighbours)."""
    shown = terminal_text(text)
    if len(shown) > LABEL_CHARS:
        shown = "…" + shown[-(LABEL_CHARS - 1) :]
    kind = "label mono" if mono else "label"
    return (
        f'<text class="{kind}" x="{LABEL_WIDTH - 8}" y="{y + ROW / 2 + 4}" '
        f'text-anchor="end">{html.escape(shown)}</text>'
    )


def _round(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"

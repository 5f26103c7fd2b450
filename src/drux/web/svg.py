"""Server-side SVG for the consensus view: the score gauge and the agreement heatmap.

Built as strings; every piece of text that comes from data (model names) goes
through ``escape``, so the result is safe to mark as ``Markup``.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

from markupsafe import Markup, escape

from drux.verdicts import tone


def _band(score: float) -> str:
    return tone(score)


def gauge(score: float | None) -> Markup:
    """A half-circle gauge from 0 to 100 with the score in the middle."""
    r, cx, cy = 80, 100, 100
    track = f"M {cx - r} {cy} A {r} {r} 0 0 1 {cx + r} {cy}"
    if score is None:
        value, label, band, said = "", "—", "none", "No Consensus Score"
    else:
        s = max(0.0, min(100.0, float(score)))
        angle = math.pi * (1 - s / 100)
        x, y = cx + r * math.cos(angle), cy - r * math.sin(angle)
        value = (f'<path class="gauge-value" d="M {cx - r} {cy} A {r} {r} 0 0 1 '
                 f'{x:.2f} {y:.2f}"/>') if s > 0 else ""
        label, band = f"{s:.0f}", _band(s)
        said = f"Consensus Score {label} out of 100"
    return Markup(
        f'<svg class="gauge gauge-{band}" viewBox="0 0 200 120" role="img" '
        f'aria-label="{escape(said)}">'
        f'<path class="gauge-track" d="{track}"/>{value}'
        f'<text class="gauge-label" x="{cx}" y="{cy - 10}" text-anchor="middle">{escape(label)}</text>'
        f'<text class="gauge-scale" x="{cx - r}" y="{cy + 16}" text-anchor="middle">0</text>'
        f'<text class="gauge-scale" x="{cx + r}" y="{cy + 16}" text-anchor="middle">100</text>'
        "</svg>"
    )


def _cell_color(value: float) -> tuple[str, str]:
    """The fill, red (disagree) through amber to green (agree), and the ink its number needs.

    White on the amber and green fills is about 2:1; the ink is whichever of white and
    near-black contrasts more with the fill (WCAG relative luminance).
    """
    v = max(0.0, min(1.0, value))
    rgb = colorsys.hls_to_rgb(v * 130 / 360, 0.45, 0.65)
    fill = _luminance(rgb)
    on_white = 1.05 / (fill + 0.05)
    on_dark = (fill + 0.05) / (_luminance((_DARK_INK,) * 3) + 0.05)
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb), (
        "light" if on_white >= on_dark else "dark")


_DARK_INK = 0.0  # .hm-ink-dark in app.css is #000: with #111 some fills fell to 4.35:1


def _luminance(rgb: tuple[float, float, float]) -> float:
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def heatmap(matrix: dict[str, dict[str, Any]], models: list[str] | None = None) -> Markup:
    """The pairwise agreement matrix as a grid of coloured cells with values."""
    names = [m for m in (models or list(matrix)) if m in matrix]
    if len(names) < 2:
        return Markup("")
    cell = 44
    shorts = [n if len(n) <= 18 else n[:17] + "…" for n in names]
    # Room for the labels: at most ~7.5 px per character at 11 px; column labels lean 60°.
    text_w = 7.5 * max(len(n) for n in shorts)
    label_w = round(14 + text_w)
    top = round(14 + text_w * 0.87)
    size = cell * len(names)
    width = label_w + size + round(8 + text_w * 0.5)
    height = top + size + 4
    # Drawn at 1.5x its units: big enough to read, never stretched to the page width.
    parts = [f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width * 1.5:.0f}" '
             f'height="{height * 1.5:.0f}" role="img" '
             f'aria-label="Agreement between each pair of models">']
    for i, name in enumerate(shorts):
        short = escape(name)
        y = top + i * cell + cell / 2
        parts.append(f'<text class="hm-label" x="{label_w - 6}" y="{y + 4:.0f}" '
                     f'text-anchor="end">{short}</text>')
        x = label_w + i * cell + cell / 2
        parts.append(f'<text class="hm-label" x="0" y="0" text-anchor="start" '
                     f'transform="translate({x - 4:.0f} {top - 6}) rotate(-60)">{short}</text>')
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            x, y = label_w + j * cell, top + i * cell
            raw = matrix.get(a, {}).get(b)
            if a == b or raw is None:
                parts.append(f'<rect class="hm-cell hm-self" x="{x}" y="{y}" width="{cell - 2}" '
                             f'height="{cell - 2}"/>')
                continue
            v = float(raw)
            fill, ink = _cell_color(v)
            parts.append(
                f'<rect class="hm-cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{fill}"><title>{escape(a)} vs {escape(b)}: {v:.2f}</title></rect>'
                f'<text class="hm-value hm-ink-{ink}" x="{x + (cell - 2) / 2:.0f}" '
                f'y="{y + cell / 2 + 3:.0f}" '
                f'text-anchor="middle">{v:.2f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

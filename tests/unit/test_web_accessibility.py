"""Accessibility of the server-rendered pages (WCAG 2.1 AA basics), checked on their HTML and CSS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "src/drux/web/static/app.css"


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _palettes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    blocks = re.findall(r":root\s*\{([^}]*)\}", css)
    assert len(blocks) == 2, "expected a light :root and a dark :root"
    light = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", blocks[0]))
    dark = {**light, **dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", blocks[1]))}
    return {"light": light, "dark": dark}


# (text colour, background, where): every pairing of palette colours the stylesheet uses for text.
TEXT_PAIRS = [
    ("text", "bg", "body"), ("muted", "bg", ".muted, .lead, footer"),
    ("muted", "surface", ".muted in cards"), ("muted", "code", ".badge waiting"),
    ("accent", "bg", "links"), ("accent", "surface", "links in cards, .status-running"),
    ("accent-text", "accent", ".button.primary, .tag.active"),
    ("accent", "accent-soft", ".badge streaming, .method"),
    ("muted", "accent-soft", ".muted in .ai-block"),
    ("good", "surface", ".badge done, .claim-col.shared h4"), ("good", "bg", ".status-complete"),
    ("good", "code", ".state-closed"),
    ("bad", "surface", ".badge failed, .error-text, .alert"), ("bad", "bg", ".status-failed, .flag"),
    ("bad", "code", ".state-open"),
    ("mid-text", "surface", ".substitute"), ("mid-text", "code", ".state-half-open"),
    ("on-status", "good", ".score-pill.high"), ("on-status", "bad", ".score-pill.low"),
    ("on-status", "muted", ".score-pill.none"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_meet_aa_contrast(scheme: str) -> None:
    palette = _palettes()[scheme]
    failing = [f"{fg} on {bg} ({where}): {contrast(palette[fg], palette[bg]):.2f}"
               for fg, bg, where in TEXT_PAIRS if contrast(palette[fg], palette[bg]) < 4.5]
    assert not failing, failing
    # The mid score pill keeps dark text on the amber fill in both schemes.
    assert contrast("#1d1f23", palette["mid"]) >= 4.5


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)

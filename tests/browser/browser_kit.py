"""Helpers shared by the browser tests: scripted panels, screenshots, how long to wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripted import Gate, Reply, ScriptedProvider

# Every wait in the browser tests (Playwright's default, expect(), wait_for_*): generous for a
# loaded two-core machine. Only a failing test waits this long.
WAIT_MS = 60_000

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

ANSWERS = {
    "alpha": "Water boils at 100 degrees Celsius at sea level.",
    "beta": "At sea level, water boils at 100 °C.",
    "gamma": "Water boils at 90 degrees Celsius at sea level.",
}


def scripted_factory(delay: float = 0.05, gate: Gate | None = None) -> Any:
    """Models answering ``ANSWERS`` word by word; with ``gate``, each holds its last word
    until the test opens it (so the page is seen streaming however slow the machine)."""
    providers: dict[str, ScriptedProvider] = {}

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        providers[spec.id] = ScriptedProvider(spec.id, [Reply(ANSWERS.get(spec.id, "fine"),
                                                              delay=delay, gate=gate)])
        return providers[spec.id]

    build.providers = providers  # type: ignore[attr-defined]
    return build


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

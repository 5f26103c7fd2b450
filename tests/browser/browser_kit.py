"""Helpers shared by the browser tests: scripted panels and screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripted import Reply, ScriptedProvider

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

ANSWERS = {
    "alpha": "Water boils at 100 degrees Celsius at sea level.",
    "beta": "At sea level, water boils at 100 °C.",
    "gamma": "Water boils at 90 degrees Celsius at sea level.",
}


def scripted_factory(delay: float = 0.05) -> Any:
    providers: dict[str, ScriptedProvider] = {}

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        providers[spec.id] = ScriptedProvider(spec.id, [Reply(ANSWERS.get(spec.id, "fine"),
                                                              delay=delay)])
        return providers[spec.id]

    build.providers = providers  # type: ignore[attr-defined]
    return build


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

"""Cutting generated text at stop strings that may arrive split across tokens."""

from __future__ import annotations


class StopScanner:
    """Holds back text that may be the start of a stop string; cuts at the first stop."""

    def __init__(self, stops: list[str], strip_leading: bool) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self._strip = strip_leading

    def feed(self, text: str) -> tuple[str, bool]:
        held = self._held + text
        if self._strip:
            held = held.lstrip()
            self._strip = not held
        hits = [i for i in (held.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return held[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(held)), keep, -1):
                if held.endswith(stop[:n]):
                    keep = n
                    break
        self._held = held[len(held) - keep:]
        return held[: len(held) - keep], False

    def rest(self) -> str:
        held, self._held = self._held, ""
        return held

"""Verdict bands and the no-consensus threshold: the one place they are written.

The verdict is a fixed, monotonic function of the Consensus Score alone, so two asks
with the same score always get the same word, and a higher score never gets a weaker
one. Below ``NO_CONSENSUS_BELOW`` there is no consensus answer: the shells show the
competing positions instead. This module imports nothing, so every shell (and the
README test) can read it without loading the consensus engine.

A band says how much the answers agree, never whether they are right.
"""

from __future__ import annotations

STRONG = "strong consensus"
WEAK = "weak consensus"
DIVIDED = "divided"
CONTRADICTORY = "contradictory"

# (lowest score of the band, verdict), highest band first.
BANDS: tuple[tuple[float, str], ...] = ((75.0, STRONG), (50.0, WEAK), (25.0, DIVIDED),
                                        (0.0, CONTRADICTORY))
# A score below this has no consensus answer (the two lower bands).
NO_CONSENSUS_BELOW = 50.0


def verdict_for(score: float) -> str:
    for floor, name in BANDS:
        if score >= floor:
            return name
    return CONTRADICTORY


def has_consensus(score: float | None) -> bool:
    """Whether a score is high enough for the panel to have a consensus answer."""
    return score is not None and score >= NO_CONSENSUS_BELOW

POSITION_SEPARATOR = " · "


def positions_text(positions: list[tuple[str, list[str]]]) -> str:
    """"Canberra: qwen2.5, gemma3 · Sydney: smollm2": how every shell writes the competing
    positions of an ask without consensus (``positions``: (label, models) pairs)."""
    return POSITION_SEPARATOR.join(f"{label}: {', '.join(models)}" for label, models in positions)


def tone(score: float) -> str:
    """The colour a score is shown in: "high" for strong consensus, "mid" for weak, "low"
    without consensus (the same bands as the verdict)."""
    return "high" if score >= BANDS[0][0] else "mid" if score >= NO_CONSENSUS_BELOW else "low"

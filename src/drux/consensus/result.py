"""``ConsensusResult``: everything the score used, JSON-safe, with a one-line explanation.

One story per ask: the verdict is the score's band, the groups and the contradictions
come from the same pair judgments (a clash the claim map finds is one of them), and
the explanation is written from those alone. Below the no-consensus threshold there
is no consensus answer; the groups are shown as the competing positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drux.consensus.claims import Claim
from drux.consensus.signals import split_sentences
from drux.verdicts import STRONG, has_consensus, positions_text


@dataclass(slots=True)
class Contradiction:
    models: tuple[str, str]
    kinds: list[str]  # polarity / number / date / entity / negation / judge / meaning / claim
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "kinds": list(self.kinds), "reasons": list(self.reasons)}


@dataclass(slots=True)
class Position:
    """One group of answers that say the same thing: a gist of its representative answer."""

    label: str
    models: list[str]
    model: str  # the representative, whose answer the label shortens

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "models": list(self.models), "model": self.model}


@dataclass(slots=True)
class ConsensusResult:
    score: float | None
    verdict: str
    backend: str
    reason: str = ""
    clusters: list[list[str]] = field(default_factory=list)
    matrix: dict[str, dict[str, float]] = field(default_factory=dict)
    consensus_model: str | None = None
    consensus_answer: str | None = None
    consensus_kind: str | None = None  # "representative" (an answer) or "synthesis" (by a judge)
    synthesized_by: str | None = None  # the judge that wrote a synthesis
    claims: list[Claim] = field(default_factory=list)
    contradictions: list[Contradiction] = field(default_factory=list)
    families: dict[str, str] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)  # one per group, in group order
    truncated: list[str] = field(default_factory=list)  # answers cut by the token limit

    @property
    def has_consensus(self) -> bool:
        return has_consensus(self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "verdict": self.verdict,
            "reason": self.reason,
            "backend": self.backend,
            "explanation": self.explanation(),
            "clusters": [list(c) for c in self.clusters],
            "matrix": {a: {b: round(float(v), 4) for b, v in row.items()} for a, row in self.matrix.items()},
            "consensus_model": self.consensus_model,
            "consensus_answer": self.consensus_answer,
            "consensus_kind": self.consensus_kind,
            "synthesized_by": self.synthesized_by,
            "claims": [c.to_dict() for c in self.claims],
            "contradictions": [c.to_dict() for c in self.contradictions],
            "families": dict(self.families),
            "breakdown": {k: round(float(v), 4) for k, v in self.breakdown.items()},
            "positions": [p.to_dict() for p in self.positions],
            "truncated": list(self.truncated),
        }

    def explanation(self) -> str:
        if self.score is None:
            return f"No consensus score: {self.reason}"
        if not self.has_consensus:
            text = f"No consensus: {positions_line(self.positions)}"
            if self.contradictions:
                text += f"; {self._first_contradiction()}"
            return text + "."
        if len(self.clusters) == 1:
            names = _join(self.clusters[0])
            if self.contradictions:
                # One group on average can still hold a pair that cannot both be true.
                return f"{names} mostly agree, but {self._first_contradiction()}."
            if self.verdict == STRONG:
                return f"All {len(self.clusters[0])} models agree ({names})."
            return f"{names} agree only loosely."
        return self._groups_text()

    def _groups_text(self) -> str:
        parts = []
        for group in self.clusters:
            if len(group) > 1:
                parts.append(f"{_join(group)} agree")
            else:
                parts.append(f"{group[0]} stands alone")
        text = "; ".join(parts)
        if self.contradictions:
            text += f"; {self._first_contradiction()}"
        return text + "."

    def _first_contradiction(self) -> str:
        first = self.contradictions[0]
        why = first.reasons[0] if first.reasons else ", ".join(first.kinds)
        return f"{first.models[0]} vs {first.models[1]} contradict ({why})"


def positions_line(positions: list[Position]) -> str:
    return positions_text([(p.label, p.models) for p in positions])


GIST_CHARS = 60


def gist(answer: str, limit: int = GIST_CHARS) -> str:
    """A position's label: the first sentence of its answer, shortened at a word."""
    sentences = split_sentences(" ".join(answer.split()))
    first = (sentences[0] if sentences else answer).strip().strip("*_#>`").rstrip(".;:!")
    if len(first) <= limit:
        return first or "(no words)"
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"

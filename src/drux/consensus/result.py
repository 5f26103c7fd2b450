"""``ConsensusResult``: everything the score used, JSON-safe, with a one-line explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drux.consensus.claims import Claim


@dataclass(slots=True)
class Contradiction:
    models: tuple[str, str]
    kinds: list[str]  # polarity / number / date / entity / negation / judge / meaning
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "kinds": list(self.kinds), "reasons": list(self.reasons)}


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
        }

    def explanation(self) -> str:
        if self.score is None:
            return f"No consensus score: {self.reason}"
        if len(self.clusters) == 1:
            names = _join(self.clusters[0])
            if not self.contradictions:
                return f"All {len(self.clusters[0])} models agree ({names})."
            # One group on average can still hold a pair that cannot both be true.
            return f"{names} mostly agree, but {self._first_contradiction()}."
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


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"

"""Pair features and the small agreement model trained on them.

``pair_features`` turns two answers (their embeddings and ``PairSignals``) into a
fixed, symmetric feature vector. ``PairModel`` is a logistic regression over those
features whose weights ship as ``pair_model.json`` beside this file; it was fitted
on the dev split of the agreement benchmark only (scripts/train_consensus.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from drux.consensus.signals import PairSignals

FEATURES: tuple[str, ...] = (
    "cosine",
    "cosine_residual",
    "content_jaccard",
    "polarity_clash",
    "polarity_same",
    "negation_mismatch",
    "both_negated",
    "number_clash",
    "number_match",
    "year_clash",
    "year_match",
    "entity_clash",
    "entity_overlap",
    "term_clash",
    "abstain_any",
    "absolute_mismatch",
    "question_relevance_min",
    "question_relevance_gap",
    "residual_x_polarity_clash",
    "residual_x_negation_mismatch",
    "residual_squared",
    "cosine_x_residual",
)
WEIGHTS_FILE = Path(__file__).with_name("pair_model.json")
# Fixed prior log-odds for signals the benchmark almost never exercises (its answers
# rarely state numbers or dates), so the fit cannot learn them: a clash of numbers,
# dates or names is evidence of disagreement, a shared one of agreement. The fit
# learns its own weights on top of these offsets (scripts/train_consensus.py).
PRIOR_OFFSETS: dict[str, float] = {
    "number_clash": -2.0,
    "number_match": 1.5,
    "year_clash": -2.0,
    "year_match": 1.5,
    "entity_clash": -0.5,
    "entity_overlap": 1.0,
}
_OFFSET_INDEX = [(FEATURES.index(name), w) for name, w in PRIOR_OFFSETS.items()]


def prior_offset(x: list[float]) -> float:
    return sum(w * x[i] for i, w in _OFFSET_INDEX)


def pair_features(cosine: float, cosine_residual: float, s: PairSignals,
                  relevance: tuple[float, float]) -> list[float]:
    """``relevance`` is each answer's cosine to the question."""
    rel_a, rel_b = relevance
    return [
        cosine,
        cosine_residual,
        s.content_jaccard,
        float(s.polarity_clash),
        float(s.polarity_same),
        float(s.negation_mismatch),
        float(s.both_negated),
        float(s.number_clash),
        float(s.number_match),
        float(s.year_clash),
        float(s.year_match),
        float(s.entity_clash),
        s.entity_overlap,
        min(float(s.term_clash), 3.0),
        float(s.abstain_any),
        float(s.absolute_mismatch),
        min(rel_a, rel_b),
        abs(rel_a - rel_b),
        cosine_residual * float(s.polarity_clash),
        cosine_residual * float(s.negation_mismatch),
        cosine_residual * cosine_residual,
        cosine * cosine_residual,
    ]


@dataclass(frozen=True, slots=True)
class PairModel:
    """P(agree) = sigmoid(bias + prior_offset(x) + sum(w_i * (x_i - mean_i) / scale_i))."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    features: tuple[str, ...] = FEATURES
    trained_on: str = ""

    def logit(self, x: list[float]) -> float:
        total = self.bias + prior_offset(x)
        for w, v, m, sc in zip(self.weights, x, self.mean, self.scale, strict=True):
            total += w * (v - m) / sc
        return total

    def probability(self, x: list[float]) -> float:
        z = max(-30.0, min(30.0, self.logit(x)))
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(self.features), "weights": list(self.weights), "bias": self.bias,
            "mean": list(self.mean), "scale": list(self.scale), "trained_on": self.trained_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PairModel:
        features = tuple(str(f) for f in data["features"])  # type: ignore[attr-defined]
        if features != FEATURES:
            raise ValueError("pair model features do not match this version of drux")
        return cls(
            weights=tuple(float(w) for w in data["weights"]),  # type: ignore[attr-defined]
            bias=float(data["bias"]),  # type: ignore[arg-type]
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[attr-defined]
            scale=tuple(float(v) for v in data["scale"]),  # type: ignore[attr-defined]
            features=features,
            trained_on=str(data.get("trained_on", "")),
        )


def load_pair_model(path: Path = WEIGHTS_FILE) -> PairModel:
    return PairModel.from_dict(json.loads(path.read_text(encoding="utf-8")))

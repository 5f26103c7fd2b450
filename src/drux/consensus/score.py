"""From pairwise agreement to one 0-100 Consensus Score and a verdict.

Votes are weighted by family: each model counts 1 / (models of its family on the
panel), so three models of one vendor weigh as much as one model of another, and
a pair of same-family models counts ``same_family_pair`` of a cross-family pair
(they agree for correlated reasons). The score mixes three things:

- the weighted mean pairwise agreement,
- the effective share of the heaviest cluster (the majority's weight),
- minus the weighted share of contradicting pairs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True, slots=True)
class ScoreParams:
    mean_weight: float = 0.6
    cluster_weight: float = 0.4
    contradiction_penalty: float = 0.3
    same_family_pair: float = 0.5


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    score: float
    mean_agreement: float
    majority_share: float
    contradiction_rate: float
    effective_votes: float


def family_weights(families: list[str]) -> list[float]:
    counts = Counter(families)
    return [1.0 / counts[f] for f in families]


def pair_weight(i: int, j: int, families: list[str], weights: list[float], params: ScoreParams) -> float:
    w = weights[i] * weights[j]
    return w * params.same_family_pair if families[i] == families[j] else w


def compute(agreement: np.ndarray, contradict: np.ndarray, families: list[str],
            clusters: list[list[int]], params: ScoreParams | None = None) -> ScoreBreakdown:
    """``agreement``: k x k in [0, 1]; ``contradict``: k x k booleans; k >= 2."""
    p = params or ScoreParams()
    k = agreement.shape[0]
    weights = family_weights(families)
    total = agree = clash = 0.0
    for i, j in combinations(range(k), 2):
        w = pair_weight(i, j, families, weights, p)
        total += w
        agree += w * float(agreement[i, j])
        clash += w * float(contradict[i, j])
    mean_agreement = agree / total
    contradiction_rate = clash / total
    effective = sum(weights)
    majority = sum(weights[i] for i in clusters[0]) / effective if clusters else 0.0
    raw = (p.mean_weight * mean_agreement + p.cluster_weight * majority
           - p.contradiction_penalty * contradiction_rate)
    top = p.mean_weight + p.cluster_weight
    score = float(np.clip(100.0 * raw / top, 0.0, 100.0))
    return ScoreBreakdown(round(score, 1), mean_agreement, majority, contradiction_rate, effective)


def verdict(b: ScoreBreakdown, n_clusters: int) -> str:
    if n_clusters == 1 and b.score >= 70:
        return "strong consensus"
    if b.contradiction_rate >= 0.5 and b.majority_share <= 0.5:
        return "contradictory"
    if b.majority_share > 0.5:
        return "majority with dissent" if n_clusters > 1 else "weak consensus"
    return "divided"

"""From pairwise agreement to one 0-100 Consensus Score and a verdict.

Votes are weighted by family: each model counts 1 / (models of its family on the
panel), so three models of one vendor weigh as much as one model of another, and
a pair of same-family models counts ``same_family_pair`` of a cross-family pair
(they agree for correlated reasons).

The score is 100 x the weighted *geometric* mean of pairwise agreement: one
confident contradiction pulls it down hard, however many pairs agree. On the dev
split this ranked consistent answer sets above mixed ones better than the
arithmetic mean, the minimum, or the majority cluster's share (bench/RESULTS.md).
The verdict is a band of the score alone (``drux.verdicts``): the majority share and
the contradiction rate are reported beside it, never mixed into it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from drux.verdicts import verdict_for


@dataclass(frozen=True, slots=True)
class ScoreParams:
    same_family_pair: float = 0.5
    # Floor inside the log so one certain "no" is a strong but finite penalty.
    epsilon: float = 0.01


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
    total = agree = clash = log_sum = 0.0
    for i, j in combinations(range(k), 2):
        w = pair_weight(i, j, families, weights, p)
        a = float(np.clip(agreement[i, j], 0.0, 1.0))
        total += w
        agree += w * a
        clash += w * float(contradict[i, j])
        log_sum += w * math.log(a + p.epsilon)
    mean_agreement = agree / total
    contradiction_rate = clash / total
    effective = sum(weights)
    majority = sum(weights[i] for i in clusters[0]) / effective if clusters else 0.0
    # exp(mean log(a + eps)) lies in [eps, 1 + eps]; shift it back onto 0..100.
    geometric = math.exp(log_sum / total) - p.epsilon
    score = float(np.clip(100.0 * geometric, 0.0, 100.0))
    return ScoreBreakdown(round(score, 1), mean_agreement, majority, contradiction_rate, effective)


def verdict(score: float) -> str:
    """The band the score falls in: a fixed monotonic function of the score alone (a 68 is
    "weak consensus" whatever the groups look like; the explanation tells the groups)."""
    return verdict_for(score)

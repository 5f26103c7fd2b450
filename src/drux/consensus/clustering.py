"""Group answers into meaning clusters from a symmetric agreement matrix.

Average-linkage agglomeration: two groups merge while the mean agreement between
their members is at least ``threshold``. Agreement is bidirectional by
construction (every backend judges the unordered pair, or averages both orders),
so "A supports B and B supports A" is what a link means. Deterministic: ties
break by the lowest member indices, and clusters come out largest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

DEFAULT_THRESHOLD = 0.5


def cluster(agreement: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
            weights: Sequence[float] | None = None) -> list[list[int]]:
    """Index clusters, heaviest first (by ``weights`` sum, then size, then mean support
    from all answers, then first index)."""
    k = agreement.shape[0]
    groups: list[list[int]] = [[i] for i in range(k)]
    while len(groups) > 1:
        best: tuple[float, int, int] | None = None
        for a, b in combinations(range(len(groups)), 2):
            link = float(np.mean([agreement[i, j] for i in groups[a] for j in groups[b]]))
            if link >= threshold and (best is None or link > best[0]):
                best = (link, a, b)
        if best is None:
            break
        _, a, b = best
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    w = list(weights) if weights is not None else [1.0] * k
    # Equal-weight groups: the one the other answers lean towards comes first.
    support = (agreement.sum(axis=1) - 1.0) / max(k - 1, 1)
    return sorted(groups, key=lambda g: (-round(sum(w[i] for i in g), 9), -len(g),
                                         -round(float(np.mean(support[g])), 9), g[0]))


def representative(members: list[int], agreement: np.ndarray) -> int:
    """The member that agrees most with the rest of its cluster (lowest index on ties)."""
    if len(members) == 1:
        return members[0]
    return max(members, key=lambda i: (sum(agreement[i, j] for j in members if j != i), -i))

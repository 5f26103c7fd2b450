import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drux.consensus.metrics import auroc, evaluate_task, rankdata, spearman

scipy_stats = pytest.importorskip("scipy.stats")


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30))
@settings(max_examples=50, deadline=None)
def test_rankdata_matches_scipy_average_ranks(values):
    assert np.allclose(rankdata(values), scipy_stats.rankdata(values))


def brute_auroc(y, s):
    pos = [b for a, b in zip(y, s, strict=True) if a == 1]
    neg = [b for a, b in zip(y, s, strict=True) if a == 0]
    total = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return total / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=2, max_size=40))
@settings(max_examples=50, deadline=None)
def test_auroc_equals_pairwise_probability(rows):
    y = [r[0] for r in rows]
    s = [r[1] for r in rows]
    if len(set(y)) < 2:
        assert math.isnan(auroc(y, s))
    else:
        assert auroc(y, s) == pytest.approx(brute_auroc(y, s))


def test_spearman_matches_scipy():
    a, b = [1, 2, 3, 4, 5, 5], [2, 1, 4, 3, 6, 6]
    assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).correlation)


def test_evaluate_task_sets_reports_the_benchmark_fields():
    items = [
        {"qid": "q1", "label": 1, "k": 3, "n_incorrect": 0, "agree_frac": 1.0, "contrastive": [False] * 3},
        {"qid": "q1", "label": 0, "k": 3, "n_incorrect": 1, "agree_frac": 0.67, "contrastive": [False] * 3},
        {"qid": "q2", "label": 1, "k": 4, "n_incorrect": 0, "agree_frac": 1.0, "contrastive": [True] * 4},
        {"qid": "q2", "label": 0, "k": 4, "n_incorrect": 2, "agree_frac": 0.5, "contrastive": [False] * 4},
    ]
    res = evaluate_task(items, [0.9, 0.1, 0.8, 0.3], "sets", n_boot=20)
    assert res["AUROC"] == 1.0 and res["AUROC_withinQ"] == 1.0
    assert res["AUROC_hard"] == 1.0
    assert {"AUROC_k3", "AUROC_k4", "Spearman_agree_frac", "AUROC_CI95"} <= set(res)

"""The agreement benchmark's metrics, reimplemented to match its eval.py.

AUROC via average ranks (ties count half), within-question AUROC, Spearman
correlation, and a bootstrap CI that resamples questions; beyond eval.py, the
expected calibration error of the 0-100 score read as a probability. numpy only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

ECE_BINS = 10


def rankdata(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks from 1, ties get their average rank (scipy's 'average' method)."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=float)
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    y = np.asarray(labels)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(scores)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def within_auroc(items: list[dict[str, Any]], scores: Sequence[float] | np.ndarray,
                 key: Callable[[dict[str, Any]], Hashable]) -> float:
    groups: dict[Hashable, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for item, score in zip(items, scores, strict=True):
        groups[key(item)][int(item["label"])].append(float(score))
    values = []
    for neg, pos in groups.values():
        if pos and neg:
            p, n = np.array(pos)[:, None], np.array(neg)[None, :]
            values.append(float(((p > n) + 0.5 * (p == n)).mean()))
    return float(np.mean(values)) if values else float("nan")


def bootstrap_ci(items: list[dict[str, Any]], scores: Sequence[float] | np.ndarray, n_boot: int,
                 seed: int = 0) -> tuple[float, float]:
    if n_boot <= 0:
        return (float("nan"), float("nan"))
    y = np.array([it["label"] for it in items])
    s = np.asarray(scores, dtype=float)
    by_q: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_q[item["qid"]].append(i)
    qids = sorted(by_q)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(qids), len(qids))
        idx = np.concatenate([by_q[qids[j]] for j in pick])
        values.append(auroc(y[idx], s[idx]))
    finite = [v for v in values if not np.isnan(v)]
    if not finite:  # one class only in every resample: AUROC is undefined
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def evaluate_task(items: list[dict[str, Any]], scores: Sequence[float], task: str,
                  n_boot: int = 1000) -> dict[str, Any]:
    """The same figures as the benchmark's eval.py for one task ('sets' or 'pairs')."""
    y = np.array([it["label"] for it in items])
    s = np.asarray(scores, dtype=float)
    res: dict[str, Any] = {
        "n_items": len(items), "n_pos": int(y.sum()),
        "n_questions": len({it["qid"] for it in items}), "AUROC": auroc(y, s),
    }
    res["AUROC_CI95"] = bootstrap_ci(items, s, n_boot)
    # Read as a probability: a score of s says about s % of such items agree.
    res["ECE"] = expected_calibration_error(y, s / 100.0, ECE_BINS)
    no_contr = np.array([not any(it.get("contrastive", [])) for it in items])
    res["AUROC_noContr"] = auroc(y[no_contr], s[no_contr])
    if task == "sets":
        hard = np.array([it["n_incorrect"] for it in items]) <= 1
        res["AUROC_hard"] = auroc(y[hard], s[hard])
        res["AUROC_withinQ"] = within_auroc(items, s, key=lambda it: (it["qid"], it["k"]))
        res["Spearman_agree_frac"] = spearman(s, [it["agree_frac"] for it in items])
        ks = np.array([it["k"] for it in items])
        for k in sorted(set(ks.tolist())):
            res[f"AUROC_k{k}"] = auroc(y[ks == k], s[ks == k])
    else:
        res["AUROC_withinQ"] = within_auroc(items, s, key=lambda it: it["qid"])
    return res


def expected_calibration_error(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                               bins: int = 10) -> float:
    """ECE over ``bins`` equal-width bins of the predicted probability (0-1): the item-weighted
    mean gap between each bin's mean prediction and its share of positives. A prediction of
    exactly 1.0 falls in the last bin."""
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(float(y[inside].mean()) - float(p[inside].mean()))
    return float(total / len(y))


def reliability(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean prediction, share positive, items) for each non-empty equal-width bin."""
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [(float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]

"""Fit the fast backend's pair model on the agreement benchmark's DEV split only.

    .venv/bin/python scripts/train_consensus.py [--data DIR] [--write]

Training pairs: dev_pairs.jsonl plus the (correct, correct) = agree and
(correct, incorrect) = disagree pairs inside dev_sets.jsonl (deduplicated).
Reports question-grouped 5-fold cross-validated AUROC (honest within dev), then
fits on all of dev and, with --write, stores src/drux/consensus/pair_model.json.
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path

import numpy as np

from drux.consensus.backends import FastBackend
from drux.consensus.engine import score_with
from drux.consensus.features import FEATURES, PRIOR_OFFSETS, WEIGHTS_FILE, PairModel, prior_offset
from drux.consensus.metrics import auroc

DEFAULT_DATA = Path("/work/shared/bench/agreement")


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def training_pairs(data: Path) -> list[tuple[str, str, str, str, int]]:
    """(qid, question, a, b, label), deduplicated, dev only."""
    seen: set[tuple[str, str, str]] = set()
    out = []

    def add(qid: str, q: str, a: str, b: str, label: int) -> None:
        first, second = sorted((a, b))
        key = (qid, first, second)
        if key not in seen and a != b:
            seen.add(key)
            out.append((qid, q, a, b, label))

    for it in load(data / "dev_pairs.jsonl"):
        add(it["qid"], it["question"], it["answers"][0], it["answers"][1], it["label"])
    for it in load(data / "dev_sets.jsonl"):
        for (a, ca), (b, cb) in combinations(zip(it["answers"], it["is_correct"], strict=True), 2):
            if ca or cb:
                add(it["qid"], it["question"], a, b, int(ca and cb))
    return out


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50,
               offset: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (Newton's method) on standardised x, with a fixed offset."""
    n, d = x.shape
    off = np.zeros(n) if offset is None else offset
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    # Features with a fixed prior are not refitted: the benchmark barely exercises them.
    for name in PRIOR_OFFSETS:
        reg[FEATURES.index(name)] = 1e12
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w + off, -30, 30)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def offsets(x: np.ndarray) -> np.ndarray:
    return np.array([prior_offset(row.tolist()) for row in x])


def featurise(pairs: list[tuple[str, str, str, str, int]]) -> np.ndarray:
    backend = FastBackend()
    rows = []
    for _, q, a, b, _ in pairs:
        rows.append(backend.features(q, a, b))
    return np.array(rows, dtype=float)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: list[str], folds: int, l2: float,
                   seed: int = 0) -> float:
    qids = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(qids)
    fold_of = {q: i % folds for i, q in enumerate(qids)}
    fold = np.array([fold_of[g] for g in groups])
    pred = np.zeros(len(y))
    for f in range(folds):
        tr, te = fold != f, fold == f
        mean, scale = standardise(x[tr])
        w, b = fit_logreg((x[tr] - mean) / scale, y[tr], l2, offset=offsets(x[tr]))
        pred[te] = ((x[te] - mean) / scale) @ w + b + offsets(x[te])
    return auroc(y, pred)


def fit_model(x: np.ndarray, y: np.ndarray, l2: float, note: str) -> PairModel:
    mean, scale = standardise(x)
    w, b = fit_logreg((x - mean) / scale, y, l2, offset=offsets(x))
    return PairModel(tuple(w.tolist()), b, tuple(mean.tolist()), tuple(scale.tolist()), trained_on=note)


def cross_validate_sets(data: Path, pairs: list, x: np.ndarray, y: np.ndarray, l2: float,
                        folds: int = 5, seed: int = 0) -> tuple[list[str], list[int], list[float]]:
    """Per-set product scores when each question's pair model never saw it."""
    qids = sorted({p[0] for p in pairs})
    rng = np.random.default_rng(seed)
    rng.shuffle(qids)
    fold_of = {q: i % folds for i, q in enumerate(qids)}
    fold = np.array([fold_of[p[0]] for p in pairs])
    sets = load(data / "dev_sets.jsonl")
    scores = [0.0] * len(sets)
    for f in range(folds):
        backend = FastBackend(model=fit_model(x[fold != f], y[fold != f], l2, f"fold {f}"))
        for n, it in enumerate(sets):
            if fold_of.get(it["qid"], -1) == f:
                ids = [f"m{i}" for i in range(len(it["answers"]))]
                result = score_with(backend, it["question"], dict(zip(ids, it["answers"], strict=True)),
                                    {m: m for m in ids})
                scores[n] = float(result.score or 0.0)
    return [it["qid"] for it in sets], [it["label"] for it in sets], scores


def bootstrap_ci(qids: list[str], labels: list[int], scores: list[float],
                 base: list[float] | None = None, rounds: int = 1000) -> tuple[float, float]:
    """95% percentile CI of AUROC (or of AUROC minus a baseline's, paired), resampling questions."""
    rng = np.random.default_rng(1)
    y, s = np.array(labels), np.array(scores)
    b = None if base is None else np.array(base)
    by_question: dict[str, list[int]] = {}
    for n, q in enumerate(qids):
        by_question.setdefault(q, []).append(n)
    members = list(by_question.values())
    stats = []
    for _ in range(rounds):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        value = auroc(y[idx], s[idx])
        stats.append(value if b is None else value - auroc(y[idx], b[idx]))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def report_sets(qids: list[str], labels: list[int], scores: list[float], save: Path | None,
                base: Path | None) -> None:
    lo, hi = bootstrap_ci(qids, labels, scores)
    print(f"grouped 5-fold CV sets AUROC (product score): {auroc(labels, scores):.4f} "
          f"(95% CI {lo:.3f}-{hi:.3f})")
    if base is not None:
        previous = json.loads(base.read_text(encoding="utf-8"))
        lo, hi = bootstrap_ci(qids, labels, scores, previous)
        print(f"  vs {base.name}: {auroc(labels, scores) - auroc(labels, previous):+.4f} "
              f"(paired 95% CI {lo:+.3f} to {hi:+.3f})")
    if save is not None:
        save.write_text(json.dumps(scores), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--cv-sets", action="store_true", help="also cross-validate the sets score")
    ap.add_argument("--seed", type=int, default=0, help="how questions are dealt into folds")
    ap.add_argument("--save-scores", type=Path, help="with --cv-sets: store the per-set CV scores")
    ap.add_argument("--compare", type=Path, help="with --cv-sets: paired CI against stored scores")
    args = ap.parse_args()
    pairs = training_pairs(args.data)
    y = np.array([p[4] for p in pairs], dtype=float)
    x = featurise(pairs)
    groups = [p[0] for p in pairs]
    print(f"{len(pairs)} dev training pairs, {int(y.sum())} agree, {len(set(groups))} questions")
    for i, name in enumerate(FEATURES):
        print(f"  {name:18s} AUROC alone {auroc(y, x[:, i]):.3f}")
    for l2 in (0.1, 1.0, 10.0, 100.0):
        print(f"grouped 5-fold CV pair AUROC (l2={l2}): {cross_validate(x, y, groups, 5, l2, args.seed):.4f}")
    if args.cv_sets:
        qids, labels, scores = cross_validate_sets(args.data, pairs, x, y, args.l2, seed=args.seed)
        report_sets(qids, labels, scores, args.save_scores, args.compare)
    model = fit_model(x, y, args.l2, f"agreement benchmark dev split ({len(pairs)} pairs), l2={args.l2}")
    for name, weight in zip(FEATURES, model.weights, strict=True):
        print(f"  w[{name}] = {weight:+.3f}")
    if args.write:
        WEIGHTS_FILE.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS_FILE}")


if __name__ == "__main__":
    main()

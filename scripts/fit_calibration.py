"""Fit the map from the raw agreement score to the calibrated Consensus Score, on DEV only.

    PYTHONPATH=src .venv/bin/python scripts/fit_calibration.py [--data DIR] [--raw pair-cv]
        [--cache FILE] [--seed 0] [--variant V] [--write] [--reliability FILE]

1. Raw scores for every dev set and pair, as the product computes them
   (``score_with``, each answer its own family). ``--raw pair-cv`` (default, for
   the fast backend's logistic pair model): each question is scored by a pair
   model fitted without it (the question-grouped folds of train_consensus.py), so
   the scores look like those of unseen questions. ``--raw in-sample``: the
   shipped backend as it is (use it for a backend that has no refit here).
2. Isotonic and Platt maps, free or held through (50, 50), each pooled over
   sets and pairs or one per panel size (2 answers / 3 or more), compared by
   question-grouped 5-fold cross-validated ECE (10 equal bins) on sets and pairs;
   among those through (50, 50) the lowest sum wins (50 is the backends' "no
   evidence either way", where an answer that only echoes the question is held).
3. The chosen variant is fitted on all of dev, checked to leave both AUROCs
   exactly as they were, and with ``--write`` stored in
   src/drux/consensus/score_calibration.json for ``--backend`` (the other backends' maps
   are kept).

The cross-encoder (``--backend cross``) was trained on part of dev, so its scores on those
questions are not those of unseen ones: fit it ``--raw in-sample`` on the questions it never
saw (``--data`` a folder from scripts/xenc_split.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from drux.consensus.backends import AgreementBackend, CrossBackend, FastBackend
from drux.consensus.calibrate import (
    CALIBRATION_FILE,
    DECIMALS,
    IsotonicMap,
    PlattMap,
    ScoreCalibration,
    raw_logit,
)
from drux.consensus.engine import score_with
from drux.consensus.metrics import auroc, expected_calibration_error, reliability

sys.path.insert(0, str(Path(__file__).parent))
import train_consensus as tc

FOLDS = 5
BINS = 10
Map = Callable[[float], float]


def load_items(data: Path) -> list[dict]:
    items = []
    for task in ("sets", "pairs"):
        for it in tc.load(data / f"dev_{task}.jsonl"):
            items.append({"task": task, "qid": it["qid"], "label": int(it["label"]),
                          "k": len(it["answers"]), "question": it["question"],
                          "answers": it["answers"]})
    return items


def fold_of(qids: list[str], seed: int) -> dict[str, int]:
    """Questions dealt into folds exactly as train_consensus.py deals them."""
    order = sorted(set(qids))
    np.random.default_rng(seed).shuffle(order)
    return {q: i % FOLDS for i, q in enumerate(order)}


def raw_score(backend: AgreementBackend, item: dict) -> float:
    ids = [f"m{i}" for i in range(len(item["answers"]))]
    result = score_with(backend, item["question"], dict(zip(ids, item["answers"], strict=True)),
                        {m: m for m in ids})
    return float(result.breakdown["raw_score"])


def raw_scores(items: list[dict], data: Path, mode: str, seed: int,
               which: str = "fast") -> list[float]:
    if mode == "in-sample":
        backend: AgreementBackend = CrossBackend() if which == "cross" else FastBackend()
        return [raw_score(backend, it) for it in items]
    if which != "fast":
        raise SystemExit("--raw pair-cv refits the fast backend's pair model; use --raw in-sample")
    pairs = tc.training_pairs(data)
    y = np.array([p[4] for p in pairs], dtype=float)
    x = tc.featurise(pairs)
    folds = fold_of([p[0] for p in pairs] + [it["qid"] for it in items], seed)
    pair_fold = np.array([folds[p[0]] for p in pairs])
    out = [0.0] * len(items)
    for f in range(FOLDS):
        model = tc.fit_model(x[pair_fold != f], y[pair_fold != f], 1.0, f"fold {f}")
        backend = FastBackend(model=model)
        for n, it in enumerate(items):
            if folds[it["qid"]] == f:
                out[n] = raw_score(backend, it)
    return out


def fit_platt(raw: np.ndarray, y: np.ndarray, anchored: bool) -> PlattMap:
    """Logistic regression on the raw score's log-odds; ``anchored``: no intercept, so 50 stays 50."""
    z = np.array([raw_logit(r) for r in raw])
    xb = np.stack([z, np.ones_like(z)], axis=1)[:, : 1 if anchored else 2]
    w = np.zeros(xb.shape[1])
    w[0] = 1.0
    for _ in range(100):  # Newton's method; a tiny ridge keeps the Hessian invertible
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        step = np.linalg.solve((xb * (p * (1 - p))[:, None]).T @ xb + 1e-6 * np.eye(len(w)),
                               xb.T @ (p - y) + 1e-6 * w)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return PlattMap(slope=max(float(w[0]), 1e-6), intercept=0.0 if anchored else float(w[1]))


def fit_isotonic(raw: np.ndarray, y: np.ndarray, anchored: bool) -> IsotonicMap:
    """Pool-adjacent-violators, then a line through the blocks' centres: strictly increasing,
    so no two raw scores are tied by the map (a step function would tie them and move AUROC).
    ``anchored``: blocks below raw 50 stay under 50 and those above over it, through (50, 50)."""
    order = np.argsort(raw, kind="mergesort")
    blocks: list[list[float]] = []  # [sum of x, sum of y, count]
    for i in order:
        blocks.append([float(raw[i]), float(y[i]), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    # Never 0 % or 100 % from finite data: blocks within 1-99, the end knots within 0.5-99.5.
    points = [(b[0] / b[2], min(max(100.0 * b[1] / b[2], 1.0), 99.0)) for b in blocks]
    if anchored:
        points = sorted([(x, min(v, 49.9) if x < 50 else max(v, 50.1)) for x, v in points
                         if x != 50] + [(50.0, 50.0)])
    kx: list[float] = []
    ky: list[float] = []
    for x, v in points:
        if not kx or (x > kx[-1] and v > ky[-1]):
            kx.append(x)
            ky.append(v)
    if kx[0] > 0:  # raw scores below every block: a little under the lowest one
        kx.insert(0, 0.0)
        ky.insert(0, ky[0] - 0.5)
    if kx[-1] < 100:
        kx.append(100.0)
        ky.append(ky[-1] + 0.5)
    return IsotonicMap(raw=kx, calibrated=ky)


FITTERS = {"platt": fit_platt, "isotonic": fit_isotonic}
VARIANTS = tuple(f"{kind}{at}{size}" for kind in FITTERS for at in ("", " at 50")
                 for size in ("", " by size"))


def size_group(k: int) -> str:
    return "pairs" if k == 2 else "sets"


def fit(variant: str, raw: np.ndarray, y: np.ndarray,
        k: np.ndarray) -> dict[str, PlattMap | IsotonicMap]:
    """``variant``: "platt" or "isotonic", then " at 50" (anchored), then " by size"."""
    fitter, anchored = FITTERS[variant.split(" ")[0]], " at 50" in variant
    if not variant.endswith("by size"):
        m = fitter(raw, y, anchored)
        return {"pairs": m, "sets": m}
    return {g: fitter(raw[sel], y[sel], anchored) for g, sel in (("pairs", k == 2), ("sets", k > 2))}


def apply(maps: Mapping[str, Map], raw: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.array([round(maps[size_group(int(kk))](float(r)), DECIMALS)
                     for r, kk in zip(raw, k, strict=True)])


def cross_validated(variant: str, raw: np.ndarray, y: np.ndarray, k: np.ndarray,
                    fold: np.ndarray) -> np.ndarray:
    out = np.zeros(len(raw))
    for f in range(FOLDS):
        tr, te = fold != f, fold == f
        out[te] = apply(fit(variant, raw[tr], y[tr], k[tr]), raw[te], k[te])
    return out


def report(name: str, scores: np.ndarray, y: np.ndarray, task: np.ndarray) -> dict[str, float]:
    row = {}
    for t in ("sets", "pairs"):
        sel = task == t
        row[f"ece_{t}"] = expected_calibration_error(y[sel], scores[sel] / 100, BINS)
        row[f"brier_{t}"] = float(np.mean((scores[sel] / 100 - y[sel]) ** 2))
        row[f"auroc_{t}"] = auroc(y[sel], scores[sel])
    print(f"  {name:28s} " + "  ".join(f"{key}={value:.4f}" for key, value in row.items()))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=tc.DEFAULT_DATA)
    ap.add_argument("--raw", choices=("pair-cv", "in-sample"), default="pair-cv")
    ap.add_argument("--backend", choices=("fast", "cross"), default="fast")
    ap.add_argument("--seed", type=int, default=0, help="how questions are dealt into folds")
    ap.add_argument("--cache", type=Path, help="raw scores: read if present, else computed and stored")
    ap.add_argument("--variant", choices=VARIANTS, help="skip the choice by CV ECE")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--reliability", type=Path, help="store the reliability bins (for the plot)")
    args = ap.parse_args()
    items = load_items(args.data)
    if args.cache is not None and args.cache.is_file():
        raw = np.array(json.loads(args.cache.read_text(encoding="utf-8")))
    else:
        raw = np.array(raw_scores(items, args.data, args.raw, args.seed, args.backend))
        if args.cache is not None:
            args.cache.write_text(json.dumps(raw.tolist()), encoding="utf-8")
    y = np.array([it["label"] for it in items], dtype=float)
    k = np.array([it["k"] for it in items])
    task = np.array([it["task"] for it in items])
    folds = fold_of([it["qid"] for it in items], args.seed)
    fold = np.array([folds[it["qid"]] for it in items])
    print(f"{len(items)} dev items ({int((task == 'sets').sum())} sets, {int((task == 'pairs').sum())} pairs), "
          f"raw scores: {args.raw}; positives: sets {y[task == 'sets'].mean():.3f}, "
          f"pairs {y[task == 'pairs'].mean():.3f}")
    print(f"question-grouped {FOLDS}-fold CV (seed {args.seed}), ECE with {BINS} equal bins:")
    rows = {"raw": report("raw score (before)", raw, y, task)}
    cv: dict[str, np.ndarray] = {}
    for variant in VARIANTS:
        cv[variant] = cross_validated(variant, raw, y, k, fold)
        rows[variant] = report(variant, cv[variant], y, task)
    # Among the maps that keep 50 at 50 (the backends' "no evidence either way": an answer
    # that only echoes the question is held there), the lowest CV ECE, sets and pairs alike.
    chosen = args.variant or min((v for v in cv if " at 50" in v),
                                 key=lambda v: rows[v]["ece_sets"] + rows[v]["ece_pairs"])
    final = fit(chosen, raw, y, k)
    shipped = apply(final, raw, k)
    report(f"{chosen}, all of dev (in-sample)", shipped, y, task)
    for t in ("sets", "pairs"):
        sel = task == t
        if auroc(y[sel], shipped[sel]) != auroc(y[sel], raw[sel]):
            raise SystemExit(f"the map changed the {t} AUROC: it must be strictly increasing")
    if args.reliability is not None:
        bins = {f"{t} {which}": reliability(y[task == t], s[task == t] / 100, BINS)
                for t in ("sets", "pairs") for which, s in (("raw", raw), ("calibrated", cv[chosen]))}
        args.reliability.write_text(json.dumps({"bins": bins, "rows": rows, "chosen": chosen},
                                               indent=1), encoding="utf-8")
    print(f"chosen: {chosen}; " + "; ".join(f"{g}: {m.model_dump()}" for g, m in final.items()))
    if args.write:
        note: dict[str, str | int | float] = {
            "data": f"agreement benchmark, dev items in {args.data.name} (sets + pairs)",
            "raw": args.raw,
            "variant": chosen, "seed": args.seed, "items": len(items),
            "cv_ece_sets": round(rows[chosen]["ece_sets"], 4),
            "cv_ece_pairs": round(rows[chosen]["ece_pairs"], 4),
            "script": "scripts/fit_calibration.py",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
        maps = {g: m.model_dump() for g, m in final.items()}
        old = ScoreCalibration.model_validate_json(CALIBRATION_FILE.read_text(encoding="utf-8"))
        calibration = ScoreCalibration.model_validate({
            "maps": {**{b: m.model_dump() for b, m in old.maps.items()}, args.backend: maps},
            "fitted": {**old.fitted, args.backend: note}})
        CALIBRATION_FILE.write_text(calibration.model_dump_json(indent=1) + "\n", encoding="utf-8")
        print(f"wrote {CALIBRATION_FILE}")

if __name__ == "__main__":
    main()

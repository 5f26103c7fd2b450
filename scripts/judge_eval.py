"""The offline LLM judge (and judge + fast hybrid) on a seeded sample of the DEV split.

    .venv/bin/python scripts/judge_eval.py --pairs 120 --sets 30 --cache judge_cache.jsonl

Collects Qwen2.5-Coder-1.5B log-odds of "yes" vs "no" (both answer orders) for
every pair in the sample, appending to --cache (resumable: cached pairs are not
asked again; about 2-3 s per order on 2 busy cores), then reports:
- judge alone: pair AUROC of the mean log-odds, and sets AUROC of the product score;
- the judge's calibration (scale, bias) fitted on the sampled dev pairs;
- hybrid (fast + calibrated judge, probabilities averaged) for a few judge weights.
Needs `make models-judge`. Dev split only; no test data is read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np

from drux.consensus.backends import HybridBackend, PairJudgment
from drux.consensus.engine import fast_backend, score_with
from drux.consensus.evaluate import load_items, sample
from drux.consensus.metrics import auroc, bootstrap_ci

DEFAULT_DATA = Path("/work/shared/bench/agreement")


def read_cache(path: Path) -> dict[tuple[str, str, str], float]:
    out = {}
    if path.is_file():
        for line in path.open(encoding="utf-8"):
            try:
                row = json.loads(line)
                out[(row["q"], row["a"], row["b"])] = float(row["s"])
            except (ValueError, KeyError):
                continue
    return out


def collect(todo: list[tuple[str, str, str]], cache: Path) -> None:
    from drux.config import load_config
    from drux.consensus.judge_local import local_logprob_judge
    from drux.providers import build_provider

    seen = read_cache(cache)
    missing = [(q, x, y) for q, a, b in todo for x, y in ((a, b), (b, a)) if (q, x, y) not in seen]
    if not missing:
        return
    config = load_config()
    judge = asyncio.run(local_logprob_judge(build_provider(config.catalog.model("qwen2.5-1.5b"), config)))
    for n, (q, x, y) in enumerate(missing, 1):
        s = judge.log_odds(q, x, y)
        with cache.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"q": q, "a": x, "b": y, "s": s}) + "\n")
        if n % 20 == 0:
            print(f"  {n}/{len(missing)} judge calls", flush=True)


class CachedJudge:
    """Judgments from recorded log-odds: sigmoid(scale * (mean of both orders - bias))."""

    name = "judge"

    def __init__(self, table: dict[tuple[str, str, str], float], scale: float, bias: float) -> None:
        self.table, self.scale, self.bias = table, scale, bias

    def raw(self, q: str, a: str, b: str) -> float:
        return (self.table[(q, a, b)] + self.table[(q, b, a)]) / 2

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        out = {}
        for i, j in combinations(range(len(answers)), 2):
            z = self.scale * (self.raw(question, answers[i], answers[j]) - self.bias)
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            out[(i, j)] = PairJudgment(p, "agree" if p >= 0.5 else "contradict",
                                       [] if p >= 0.5 else ["judge: answers cannot both be true"])
        return out


def fit_calibration(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic fit y ~ sigmoid(a * s + c) by Newton; returns (scale=a, bias=-c/a)."""
    x = np.stack([s, np.ones_like(s)], axis=1)
    w = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w)))
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        w -= np.linalg.solve(hess, x.T @ (p - y))
    return float(w[0]), float(-w[1] / w[0]) if w[0] else 0.0


def set_scores(backend: object, sets: list[dict]) -> list[float]:
    scores = []
    for it in sets:
        ids = [f"m{i}" for i in range(len(it["answers"]))]
        r = score_with(backend, it["question"], dict(zip(ids, it["answers"], strict=True)),  # type: ignore[arg-type]
                       {m: m for m in ids})
        scores.append(float(r.score or 0.0))
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pairs", type=int, default=120)
    ap.add_argument("--sets", type=int, default=30)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--no-collect", action="store_true", help="only analyse what is cached")
    args = ap.parse_args()
    pairs = sample(load_items(args.data, "dev", "pairs"), args.pairs)
    sets = sample(load_items(args.data, "dev", "sets"), args.sets)
    todo = [(it["question"], *it["answers"]) for it in pairs]
    todo += [(it["question"], a, b) for it in sets for a, b in combinations(it["answers"], 2)]
    if not args.no_collect:
        collect(todo, args.cache)
    table = read_cache(args.cache)

    def complete(q: str, answers: list[str]) -> bool:
        return all((q, a, b) in table and (q, b, a) in table for a, b in combinations(answers, 2))

    pairs = [it for it in pairs if complete(it["question"], it["answers"])]
    sets = [it for it in sets if complete(it["question"], it["answers"])]
    y = np.array([it["label"] for it in pairs], dtype=float)
    raw = CachedJudge(table, 1.0, 0.0)
    s = np.array([raw.raw(it["question"], *it["answers"]) for it in pairs])
    scale, bias = fit_calibration(s, y)
    judge = CachedJudge(table, scale, bias)
    fast = fast_backend()
    fast_pairs = [fast.judge_pairs(it["question"], it["answers"])[(0, 1)].agreement for it in pairs]
    ys = [it["label"] for it in sets]
    print(f"dev sample: {len(pairs)} pairs ({int(y.sum())} agree), {len(sets)} sets ({sum(ys)} consistent)")
    print(f"judge calibration on these pairs: scale={scale:.3f} bias={bias:.3f}")

    def line(name: str, pair_scores: list[float] | np.ndarray, backend: object) -> None:
        ss = set_scores(backend, sets)
        plo, phi = bootstrap_ci(pairs, pair_scores, 1000)
        slo, shi = bootstrap_ci(sets, ss, 1000)
        print(f"  {name:12s} pairs AUROC {auroc(y, pair_scores):.4f} ({plo:.2f}-{phi:.2f})   "
              f"sets AUROC {auroc(ys, ss):.4f} ({slo:.2f}-{shi:.2f})")

    line("fast", fast_pairs, fast)
    line("judge", s, judge)
    for w in (0.3, 0.5, 0.7):
        hybrid = HybridBackend(fast, judge, judge_weight=w)
        hp = [hybrid.judge_pairs(it["question"], it["answers"])[(0, 1)].agreement for it in pairs]
        line(f"hybrid w={w}", hp, hybrid)


if __name__ == "__main__":
    main()

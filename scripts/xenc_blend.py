"""How the product scores the cross-encoder's validation questions, and whether blending in the
fast backend helps: every pair of the 72 validation questions' items is judged once by the
cross-encoder (``--model``, an exported ONNX) and by the fast backend with its pair model refitted
on the TRAIN questions only (so neither has seen a validation question), then items are scored

  - as the product does (``score.compute``: the family-weighted geometric mean), and
  - by the weakest pair (the training script's figure),

for a few fixed blends of the two probabilities (weights on the cross-encoder's log-odds). Dev
only; the held-out split is never read.

    PYTHONPATH=src .venv/bin/python scripts/xenc_blend.py --model FILE.onnx [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import train_consensus as tc
from xenc_data import DEFAULT_DATA, load_jsonl, load_questions, split_questions
from xenc_score import load_bench_eval

from drux.consensus import score
from drux.consensus.backends import CrossBackend, FastBackend, PairJudgment
from drux.consensus.crossenc import CrossEncoder

BLENDS = (1.0, 0.75, 0.5)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    train_q, val_q = split_questions([q.qid for q in load_questions(args.data)], 0, 0.2)
    pairs = [p for p in tc.training_pairs(args.data) if p[0] in train_q]
    fast = FastBackend(model=tc.fit_model(tc.featurise(pairs), np.array([p[4] for p in pairs],
                                                                         dtype=float),
                                          1.0, "train questions only"))
    digest = hashlib.sha256(args.model.read_bytes()).hexdigest()
    cross = CrossBackend(fast, CrossEncoder(args.model, digest))
    bench = load_bench_eval(args.data)
    for task in ("pairs", "sets"):
        items = [it for it in load_jsonl(args.data / f"dev_{task}.jsonl") if it["qid"] in val_q]
        judged, bare = [], []
        for it in items:
            pc = cross.judge_pairs(it["question"], it["answers"])
            pf = fast.judge_pairs(it["question"], it["answers"])
            judged.append((pc, pf))
            raw = cross.probabilities(it["question"], it["answers"])
            bare.append(({ij: PairJudgment(p, "") for ij, p in raw.items()}, pf))
        capped = sum(pc[ij].agreement < bare[n][0][ij].agreement
                     for n, (pc, _) in enumerate(judged) for ij in pc)
        print(f"{task}: {capped} pairs capped as echoes of the question", flush=True)
        for w, judged in [(w, judged) for w in BLENDS] + [(-1.0, bare)]:
            label = "no echo cap" if w < 0 else ""
            w = abs(w)
            geo, weakest = [], []
            for it, (pc, pf) in zip(items, judged, strict=True):
                k = len(it["answers"])
                agree = np.eye(k)
                for i, j in combinations(range(k), 2):
                    z = w * logit(pc[(i, j)].agreement) + (1 - w) * logit(pf[(i, j)].agreement)
                    agree[i, j] = agree[j, i] = 1 / (1 + math.exp(-z))
                fams = [f"m{i}" for i in range(k)]
                geo.append(score.compute(agree, np.zeros((k, k), bool), fams, [list(range(k))]).score
                           + 1e-6 * float(agree[np.triu_indices(k, 1)].mean()))
                weakest.append(float(agree[np.triu_indices(k, 1)].min()))
            for name, s in (("product (geometric mean)", geo), ("weakest pair", weakest)):
                if task == "pairs" and name == "weakest pair":
                    continue
                r = bench.evaluate(items, s, task, args.bootstrap)
                lo, hi = r["AUROC_CI95"]
                print(f"{task:5s} cross weight {w:.2f} {label:11s} {name:26s} AUROC {r['AUROC']:.3f} "
                      f"({lo:.3f}-{hi:.3f}, {r['n_items']} items)", flush=True)


if __name__ == "__main__":
    main()

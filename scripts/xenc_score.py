"""Scoring with the agreement cross-encoder, whatever runs it (torch while training, onnxruntime
after export), and the benchmark's metrics on the dev validation questions.

A pair's P(agree) is the mean of the two orders' probabilities (sigmoid of the logit for
"question [SEP] answer A" with "answer B", and for B then A). A set is scored by its weakest
pair (the minimum): one contradicting answer is enough to break agreement. The mean of the pairs
is printed beside it for information only; the minimum was chosen before any figure was seen.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from types import ModuleType

import numpy as np
from xenc_data import DEFAULT_DATA, load_jsonl

# (texts "question [SEP] answer A", pair texts "answer B") -> logits, one per input
LogitFn = Callable[[list[str], list[str]], np.ndarray]


def first_text(question: str, answer: str) -> str:
    return f"{question} [SEP] {answer}"


def load_bench_eval(data: Path = DEFAULT_DATA) -> ModuleType:
    """The benchmark's own eval.py, so AUROC and its question-bootstrap CI are computed its way."""
    spec = importlib.util.spec_from_file_location("agreement_eval", data / "eval.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pair_probs(logits: LogitFn, triples: Sequence[tuple[str, str, str]],
               batch: int = 64) -> dict[tuple[str, str, str], float]:
    """P(agree) for each (question, a, b), both orders averaged; each ordered input scored once."""
    ordered = sorted({(q, x, y) for q, a, b in triples for x, y in ((a, b), (b, a))})
    score: dict[tuple[str, str, str], float] = {}
    # group by length so padding stays short
    ordered.sort(key=lambda t: len(t[0]) + len(t[1]) + len(t[2]))
    for i in range(0, len(ordered), batch):
        chunk = ordered[i: i + batch]
        out = logits([first_text(q, x) for q, x, _ in chunk], [y for _, _, y in chunk])
        probs = 1.0 / (1.0 + np.exp(-np.asarray(out, dtype=np.float64)))
        score.update(zip(chunk, probs.tolist(), strict=True))
    return {(q, a, b): 0.5 * (score[(q, a, b)] + score[(q, b, a)]) for q, a, b in triples}


def validation_items(val_qids: set[str], data: Path = DEFAULT_DATA) -> dict[str, list[dict]]:
    return {task: [it for it in load_jsonl(data / f"dev_{task}.jsonl") if it["qid"] in val_qids]
            for task in ("pairs", "sets")}


def evaluate(logits: LogitFn, items: dict[str, list[dict]], n_boot: int = 1000,
             bench: ModuleType | None = None) -> dict[str, dict]:
    """eval.py's metrics for pairs and sets (weakest pair), plus sets by mean pair for reference."""
    bench = bench or load_bench_eval()
    triples = [(it["question"], a, b) for task in ("pairs", "sets") for it in items[task]
               for a, b in combinations(it["answers"], 2)]
    probs = pair_probs(logits, triples)

    def pair_list(it: dict) -> list[float]:
        return [probs[(it["question"], a, b)] for a, b in combinations(it["answers"], 2)]

    pair_s = [pair_list(it)[0] for it in items["pairs"]]
    set_min = [min(pair_list(it)) for it in items["sets"]]
    set_mean = [float(np.mean(pair_list(it))) for it in items["sets"]]
    out = {"pairs": bench.evaluate(items["pairs"], pair_s, "pairs", n_boot),
           "sets": bench.evaluate(items["sets"], set_min, "sets", n_boot)}
    out["sets"]["AUROC_mean_pair_info"] = bench.auroc([it["label"] for it in items["sets"]],
                                                      set_mean)
    return out


def headline(res: dict[str, dict]) -> str:
    parts = []
    for task in ("pairs", "sets"):
        r = res[task]
        lo, hi = r["AUROC_CI95"]
        parts.append(f"{task} {r['AUROC']:.3f} ({lo:.3f}-{hi:.3f}, {r['n_items']} items, "
                     f"{r['n_questions']} q)")
    return "; ".join(parts)

"""Benchmarks of the consensus engine (the CLI's `drux eval ...` calls these).

``eval_agreement``: the TruthfulQA-derived agreement benchmark (sets and pairs),
scored by ``score_answers`` exactly as the product scores a panel (each answer
its own family), with the same metrics as the benchmark's eval.py, plus the
expected calibration error (ECE) of the calibrated score.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drux.consensus.backends import Judge
from drux.consensus.engine import score_answers
from drux.consensus.metrics import ECE_BINS, evaluate_task
from drux.errors import InputError

TASKS = ("sets", "pairs")
# Fields the metrics read beyond question, answers, label and qid (sets: per-k and hard AUROC).
_SET_FIELDS = ("k", "n_incorrect", "agree_frac")


def _is_item(item: Any, task: str) -> bool:
    if not isinstance(item, dict):
        return False
    answers, number = item.get("answers"), (int, float)
    return (isinstance(item.get("question"), str) and isinstance(answers, list)
            and bool(answers) and all(isinstance(a, str) for a in answers)
            and item.get("label") in (0, 1)
            and isinstance(item.get("qid"), str | int)
            and (task != "sets" or all(isinstance(item.get(f), number) for f in _SET_FIELDS)))


def load_items(data_dir: Path, split: str, task: str) -> list[dict[str, Any]]:
    path = Path(data_dir) / f"{split}_{task}.jsonl"
    if not path.is_file():
        raise InputError(f"no benchmark file {path}; pass the folder holding {split}_{task}.jsonl")
    items = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    item = json.loads(line)
                except ValueError:
                    item = None
                if not _is_item(item, task):
                    raise InputError(f"{path}:{n} is not a benchmark item")
                items.append(item)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if not items:
        raise InputError(f"{path} holds no benchmark items")
    return items


def sample(items: list[dict[str, Any]], limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """A seeded random subset (keeps both labels in proportion); all items without a limit."""
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise InputError("--limit must be at least 1")
    picked = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in picked]


def panel_score(question: str, answers: list[str], backend: str, judge: Judge | None = None) -> float:
    ids = [f"answer{i + 1}" for i in range(len(answers))]
    result = score_answers(question, dict(zip(ids, answers, strict=True)),
                           {m: m for m in ids}, backend=backend, judge=judge)
    # Duplicate answer texts collapse in a dict only if ids collide; they never do here.
    return float(result.score) if result.score is not None else 0.0


def eval_agreement(data_dir: Path, backend: str = "fast", limit: int | None = None, *,
                   split: str = "dev", judge: Judge | None = None, tasks: tuple[str, ...] = TASKS,
                   bootstrap: int = 1000,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """AUROC (and the benchmark's other figures) for each task; ``limit`` samples items."""
    out: dict[str, Any] = {"backend": backend, "split": split, "data": str(data_dir)}
    for task in tasks:
        items = sample(load_items(Path(data_dir), split, task), limit)
        started = time.perf_counter()
        scores = []
        for n, item in enumerate(items, 1):
            scores.append(panel_score(item["question"], item["answers"], backend, judge))
            if progress is not None:
                progress(n, len(items))
        res = evaluate_task(items, scores, task, bootstrap)
        res["seconds_per_item"] = (time.perf_counter() - started) / max(len(items), 1)
        out[task] = res
    return out


def format_agreement(report: dict[str, Any]) -> str:
    lines = []
    for task in TASKS:
        if task not in report:
            continue
        r = report[task]
        lo, hi = r["AUROC_CI95"]
        lines.append(
            f"[{report['split']}/{task}] backend={report['backend']}  AUROC={r['AUROC']:.4f} "
            f"(95% CI {lo:.3f}-{hi:.3f}; {r['n_items']} items, {r['n_pos']} positive, "
            f"{r['n_questions']} questions)  ECE={r['ECE']:.4f} ({ECE_BINS} bins)"
        )
        extra = {k: v for k, v in r.items() if k.startswith(("AUROC_", "Spearman")) and k != "AUROC_CI95"}
        lines.append("    " + "  ".join(f"{k}={v:.4f}" for k, v in extra.items()))
        if r["n_pos"] in (0, r["n_items"]):
            lines.append("    (every item has the same label, so AUROC is undefined: nan)")
    return "\n".join(lines)

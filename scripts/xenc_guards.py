"""Guard checks of what ships: the product's agreement backend (``--backend``, default the
cross-encoder backend as drux runs it, blend and rules included) on the dev answers of the
questions the cross-encoder never saw, right and wrong answers apart.

An answer must agree (P >= 0.9) with itself and with its generated rewordings (casing,
punctuation, a hedge such as "I think", an unseen hedge, a swapped clause, 1-3 combined), and
disagree (P <= 0.1) with its generated negation and with itself with one name or number swapped.
Passing shares for right and wrong answers should be alike: a scorer that tells right from wrong
answers measures truth, not agreement.

    PYTHONPATH=src .venv/bin/python scripts/xenc_guards.py [--backend fast] [--questions all] [--limit N]

tests/unit/test_consensus_guards.py runs the same checks on a sample, and
scripts/eval_cross_encoder.py on an exported model file. Dev only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from xenc_data import (
    DEFAULT_DATA,
    REWORDINGS,
    Question,
    key_pool,
    load_questions,
    lower_first,
    negate,
    random_rewording,
    split_questions,
    substitute,
)

UNSEEN_HEDGES = ("I'm fairly sure", "My answer:", "If I remember correctly,", "Probably")
# Lead-ins in no list of drux's (statements.py) nor of training: two speak of the speaker (its
# stance rule covers them), three do not (they are left to the model).
NOVEL_HEDGES = ("As I see it,", "From what I recall,", "Well,", "In short,", "Simply put,")
DISAGREE = ("negation", "swap")
# (question, answer a, answer b) -> P(agree)
PairScore = Callable[[str, str, str], float]


def validation_questions(data: Path = DEFAULT_DATA) -> list[Question]:
    questions = load_questions(data)
    _, val = split_questions([q.qid for q in questions], 0, 0.2)
    return [q for q in questions if q.qid in val]


def dev_questions(data: Path = DEFAULT_DATA, which: str = "val") -> list[Question]:
    """``val``: the questions the cross-encoder never saw; ``all``: every dev question (the
    statement rules and the fast backend's checks do not depend on the split)."""
    return load_questions(data) if which == "all" else validation_questions(data)


def checks(questions: list[Question], seed: int = 0, limit: int | None = None
           ) -> list[tuple[str, str, str, str, bool]]:
    """(check, question, answer, other, answer is right), seeded."""
    rng = random.Random(seed)
    novel = random.Random(seed + 1)  # its own stream: the other checks' texts stay as they were
    pool = key_pool(questions)
    answers = [(q, a, ok) for q in questions for ok, group in ((True, q.right), (False, q.wrong))
               for a in group]
    if limit is not None and limit < len(answers):
        answers = random.Random(seed).sample(answers, limit)
    out: list[tuple[str, str, str, str, bool]] = []

    def add(name: str, q: Question, a: str, b: str | None, right: bool) -> None:
        if b is not None:
            out.append((name, q.text, a, b, right))

    for q, ans, right in answers:
        add("self", q, ans, ans, right)
        for name, fn in REWORDINGS.items():
            add(name, q, ans, fn(ans, rng), right)
        add("combined", q, ans, random_rewording(ans, rng), right)
        add("hedge_unseen", q, ans, f"{rng.choice(UNSEEN_HEDGES)} {lower_first(ans)}", right)
        add("hedge_novel", q, ans, f"{novel.choice(NOVEL_HEDGES)} {lower_first(ans)}", right)
        add("negation", q, ans, negate(ans, rng), right)
        swapped = substitute(ans, pool, rng)
        add("swap", q, ans, swapped[0] if swapped else None, right)
    return out


def run(score: PairScore, rows: list[tuple[str, str, str, str, bool]]) -> dict[str, dict]:
    """Share passing and median P per check, right and wrong apart, with the failures' texts."""
    out: dict[str, dict] = {}
    for name, question, a, b, right in rows:
        p = score(question, a, b)
        ok = p <= 0.1 if name in DISAGREE else p >= 0.9
        cell = out.setdefault(f"{name}/{'right' if right else 'wrong'}",
                              {"n": 0, "passed": 0, "failures": [], "ps": []})
        cell["n"] += 1
        cell["passed"] += ok
        cell["ps"].append(p)
        if not ok:
            cell["failures"].append((a, b, round(p, 3)))
    for cell in out.values():
        cell["share"] = cell["passed"] / cell["n"]
        cell["median_p"] = statistics.median(cell.pop("ps"))
    return out


def backend_score(name: str) -> PairScore:
    from drux.consensus.engine import make_backend

    backend = make_backend(name, None)
    return lambda q, a, b: backend.judge_pairs(q, [a, b])[(0, 1)].agreement


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="cross")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--questions", choices=("val", "all"), default="val")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(backend_score(args.backend), checks(dev_questions(args.data, args.questions),
                                                     limit=args.limit))
    for key in sorted(result):
        cell = result[key]
        print(f"  {key:22s} pass {cell['share']:.3f} of {cell['n']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

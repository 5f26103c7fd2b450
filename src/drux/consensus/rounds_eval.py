"""Does deliberation help? Round 1 against round 2, and synthesis against the representative.

Protocol (issue 14, "Measured"): the calibration set's round-1 answers are the ones
``drux eval calibration`` records (``calibration.record_answers``, reused as they are).
Round 2 asks each model again with the product's own revision prompt
(``deliberation.revision_messages``: its own answer, then the others' anonymised), and a
synthesizer writes one answer from round 1 with the product's synthesis prompt. Both are
recorded once per question in a resumable JSONL file, then scored offline with the fast
backend. Correct = ``calibration.is_correct`` (NQ normalisation, whole words).

Reported: accuracy of each model and of the consensus (leading) answer per round; how
often a model right in round 1 turned wrong in round 2 while the round-1 majority was
wrong (a right minority converted) and the reverse (a wrong minority corrected); the
AUROC of each round's score for "the consensus answer is right", with a bootstrap CI
over questions; the synthesis's accuracy beside the representative answer's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drux.consensus.calibration import (
    SHORT_ANSWER_INSTRUCTION,
    _append,
    is_correct,
    load_questions,
    read_recorded,
)
from drux.consensus.engine import score_answers
from drux.consensus.metrics import auroc, bootstrap_ci
from drux.deliberation import revision_messages, split_revision, synthesis_messages
from drux.errors import DruxError, InputError
from drux.types import ChatRequest, Message, Provider
from drux.verdicts import has_consensus

ROUND2_MAX_TOKENS = 48  # "Answer: ..." and one "Why: ..." line
SYNTHESIS_MAX_TOKENS = 96


async def _complete(provider: Provider, model: str, messages: list[Message], max_tokens: int,
                    seconds: float) -> str | None:
    request = ChatRequest(messages=messages, model=model, temperature=0.0,
                          max_tokens=max_tokens, timeout=seconds)
    try:
        return (await asyncio.wait_for(provider.complete(request), seconds)).text.strip() or None
    except (DruxError, TimeoutError):
        return None


async def deliberate_one(question: str, round1: dict[str, str], providers: dict[str, Provider],
                         synthesizer: str, *, seconds: float = 90.0) -> dict[str, Any]:
    """Round 2 for every model that answered round 1, and one synthesis of round 1."""
    first = [Message("system", SHORT_ANSWER_INSTRUCTION), Message("user", question)]
    round2: dict[str, str] = {}
    why: dict[str, str | None] = {}
    for model in round1:
        if model not in providers:
            continue
        others = [text for m, text in round1.items() if m != model]
        text = await _complete(providers[model], model, revision_messages(first, question, round1[model], others),
                               ROUND2_MAX_TOKENS, seconds)
        if text:
            revision = split_revision(text)
            round2[model], why[model] = revision.answer, revision.why
    r1 = score_answers(question, round1, {m: m for m in round1}) if len(round1) >= 2 else None
    positions = r1.positions if r1 is not None else []
    line = " · ".join(f"{p.label}: {', '.join(p.models)}" for p in positions) or None
    synthesis = await _complete(
        providers[synthesizer], synthesizer,
        synthesis_messages(question, round1, r1.score if r1 else None, line),
        SYNTHESIS_MAX_TOKENS, seconds)
    return {"question": question, "round2": round2, "why": why,
            "synthesis": {"model": synthesizer, "text": synthesis}}


async def record_deliberation(questions: list[dict[str, Any]], round1_file: Path, out_file: Path,
                              providers: dict[str, Provider], synthesizer: str,
                              progress: Callable[[int, int], None] | None = None) -> int:
    """Record round 2 and the synthesis of every question whose round 1 is recorded and
    whose deliberation is not yet (resumable: one line per question)."""
    round1 = read_recorded(round1_file)
    done = read_recorded(out_file)
    todo = [q for q in questions if q["question"] in round1 and q["question"] not in done]
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    for n, row in enumerate(todo, 1):
        answers = round1[row["question"]]["answers"]
        record = await deliberate_one(row["question"], answers, providers, synthesizer)
        _append(Path(out_file), record)
        if progress is not None:
            progress(n, len(todo))
    return len(todo)


def _leading(question: str, answers: dict[str, str]) -> tuple[float | None, str | None]:
    """The score and the largest group's answer (with or without consensus), as
    ``eval_calibration`` checks it."""
    if len(answers) < 2:
        return None, None
    result = score_answers(question, answers, {m: m for m in answers})
    if result.score is None or result.consensus_model is None:
        return None, None
    return result.score, result.consensus_answer or answers[result.consensus_model]


def _auroc_ci(correct: list[bool], scores: list[float]) -> dict[str, Any]:
    items = [{"label": int(c), "qid": str(i)} for i, c in enumerate(correct)]
    lo, hi = bootstrap_ci(items, scores, 1000, seed=0)
    return {"AUROC": auroc([int(c) for c in correct], scores), "ci95": [lo, hi]}


def eval_deliberation(data_file: Path, round1_file: Path, out_file: Path, *,
                      limit: int | None = None) -> dict[str, Any]:
    """The report over every question with both rounds recorded and scored."""
    questions = load_questions(data_file, limit)
    round1, rounds = read_recorded(round1_file), read_recorded(out_file)
    rows = []
    for q in questions:
        if q["question"] not in round1 or q["question"] not in rounds:
            continue
        a1 = round1[q["question"]]["answers"]
        a2 = rounds[q["question"]]["round2"]
        s1, lead1 = _leading(q["question"], a1)
        s2, lead2 = _leading(q["question"], a2)
        if s1 is None or s2 is None or lead1 is None or lead2 is None:
            continue
        right = _judge(q, a1, a2, lead1, lead2, rounds[q["question"]]["synthesis"].get("text"))
        rows.append({"s1": s1, "s2": s2, **right,
                     "moves": _moves(a1, a2, rounds[q["question"]].get("why", {}))})
    if not rows:
        raise InputError(f"no question has both rounds recorded in {out_file}")
    return _report(rows)


def _judge(q: dict[str, Any], a1: dict[str, str], a2: dict[str, str], lead1: str, lead2: str,
           synthesis: str | None) -> dict[str, Any]:
    def ok(text: str | None) -> bool:
        return bool(text) and is_correct(text or "", q["answer"], q["question"])

    return {"c1": ok(lead1), "c2": ok(lead2),
            "m1": {m: ok(t) for m, t in a1.items()}, "m2": {m: ok(t) for m, t in a2.items()},
            "synth": ok(synthesis), "has_synth": bool(synthesis)}


def _moves(a1: dict[str, str], a2: dict[str, str], why: dict[str, str | None]) -> dict[str, str]:
    """What each model did in round 2: kept its words, took another model's words verbatim,
    or wrote something else; and whether it gave the "Why:" line."""
    def same(a: str, b: str) -> bool:
        return " ".join(a.lower().strip(" .").split()) == " ".join(b.lower().strip(" .").split())

    out = {}
    for model, text in a2.items():
        if same(text, a1.get(model, "")):
            move = "kept"
        elif any(same(text, other) for m, other in a1.items() if m != model):
            move = "copied"
        else:
            move = "other"
        out[model] = move + ("+why" if why.get(model) else "")
    return out


def _behaviour(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        for model, move in r["moves"].items():
            counts = out.setdefault(model, {"answered": 0, "kept_verbatim": 0,
                                            "copied_another_verbatim": 0, "gave_why": 0})
            counts["answered"] += 1
            counts["kept_verbatim"] += move.startswith("kept")
            counts["copied_another_verbatim"] += move.startswith("copied")
            counts["gave_why"] += move.endswith("+why")
    return out


def _report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    models = sorted({m for r in rows for m in r["m1"]})
    per_model = {m: {"round1": sum(r["m1"].get(m, False) for r in rows) / n,
                     "round2": sum(r["m2"].get(m, False) for r in rows) / n} for m in models}
    converted = corrected = right_to_wrong = wrong_to_right = 0
    for r in rows:
        for m, was in r["m1"].items():
            now = r["m2"].get(m, False)
            right_to_wrong += was and not now
            wrong_to_right += now and not was
            converted += was and not now and not r["c1"]  # a right minority joined a wrong majority
            corrected += now and not was and r["c1"]  # a wrong minority joined a right majority
    with_synth = [r for r in rows if r["has_synth"]]
    report: dict[str, Any] = {
        "n_questions": n,
        "consensus_accuracy": {"round1": sum(r["c1"] for r in rows) / n,
                               "round2": sum(r["c2"] for r in rows) / n},
        "any_model_right": {"round1": sum(any(r["m1"].values()) for r in rows) / n,
                            "round2": sum(any(r["m2"].values()) for r in rows) / n,
                            # questions no model got right in round 1 but one did in round 2
                            "found": sum(any(r["m2"].values()) and not any(r["m1"].values())
                                         for r in rows),
                            "lost": sum(any(r["m1"].values()) and not any(r["m2"].values())
                                        for r in rows)},
        "per_model_accuracy": per_model,
        "consensus_flips": {"right_to_wrong": sum(r["c1"] and not r["c2"] for r in rows),
                            "wrong_to_right": sum(r["c2"] and not r["c1"] for r in rows)},
        "model_flips": {"right_to_wrong": right_to_wrong, "wrong_to_right": wrong_to_right,
                        "right_minority_converted_by_wrong_majority": converted,
                        "wrong_minority_corrected_by_right_majority": corrected},
        "round2_behaviour": _behaviour(rows),
        "mean_score": {"round1": sum(r["s1"] for r in rows) / n, "round2": sum(r["s2"] for r in rows) / n},
        "round1": _auroc_ci([r["c1"] for r in rows], [r["s1"] for r in rows]),
        "round2": _auroc_ci([r["c2"] for r in rows], [r["s2"] for r in rows]),
        "synthesis": _synthesis_counts(with_synth),
        # Without consensus the synthesis sets the positions side by side: a right answer among
        # them counts as right, so the two halves are reported apart.
        "synthesis_with_consensus": _synthesis_counts([r for r in with_synth if has_consensus(r["s1"])]),
        "synthesis_without_consensus": _synthesis_counts(
            [r for r in with_synth if not has_consensus(r["s1"])]),
    }
    return report


def _synthesis_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {"n": len(rows), "synthesis_right": sum(r["synth"] for r in rows),
            "representative_right": sum(r["c1"] for r in rows),
            "only_synthesis_right": sum(r["synth"] and not r["c1"] for r in rows),
            "only_representative_right": sum(r["c1"] and not r["synth"] for r in rows)}


def format_deliberation(report: dict[str, Any]) -> str:
    c, f = report["consensus_accuracy"], report["model_flips"]
    lines = [
        f"[deliberation] {report['n_questions']} questions, round 1 -> round 2",
        f"    consensus accuracy {c['round1']:.3f} -> {c['round2']:.3f}; mean score "
        f"{report['mean_score']['round1']:.1f} -> {report['mean_score']['round2']:.1f}",
    ]
    for model, acc in report["per_model_accuracy"].items():
        b = report["round2_behaviour"].get(model, {})
        lines.append(f"    {model}: {acc['round1']:.3f} -> {acc['round2']:.3f}; round 2 kept its words "
                     f"{b.get('kept_verbatim', 0)}, took another's {b.get('copied_another_verbatim', 0)}, "
                     f"gave a Why line {b.get('gave_why', 0)} of {b.get('answered', 0)}")
    for name in ("round1", "round2"):
        r = report[name]
        lines.append(f"    {name} AUROC {r['AUROC']:.3f} (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})")
    lines.append(f"    model answers right->wrong {f['right_to_wrong']}, wrong->right {f['wrong_to_right']}; "
                 f"right minority converted by a wrong majority {f['right_minority_converted_by_wrong_majority']}, "
                 f"wrong minority corrected by a right majority {f['wrong_minority_corrected_by_right_majority']}")
    for name, label in (("synthesis", "all"), ("synthesis_with_consensus", "with consensus"),
                        ("synthesis_without_consensus", "without consensus")):
        s = report[name]
        lines.append(f"    synthesis ({label}) right {s['synthesis_right']}/{s['n']} vs representative "
                     f"{s['representative_right']}/{s['n']} (only synthesis {s['only_synthesis_right']}, "
                     f"only representative {s['only_representative_right']})")
    return "\n".join(lines)


def dump(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)

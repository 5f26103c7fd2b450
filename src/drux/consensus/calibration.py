"""Calibration benchmark: does a high Consensus Score mean the consensus answer is right?

Protocol (../shared/bench/calibration/README.md): ask the panel each NQ-open
question with a short-answer instruction, record every model's answer once in a
JSONL file (resumable: questions already recorded are skipped), score each panel,
and check the consensus answer against the accepted answers with the usual NQ
normalisation (lower-case, no punctuation, no articles), matched as whole words.
An accepted answer that already appears in the question is not counted, so an
answer that merely echoes the question is not "correct".

Reports the panel's accuracy, the AUROC of the score for "consensus answer is
correct", and the accuracy of the top 10/25/50 % of questions by score.
"""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from drux.consensus.backends import Judge
from drux.consensus.engine import score_answers
from drux.consensus.metrics import auroc
from drux.errors import DruxError, InputError
from drux.types import ChatRequest, Message, Provider

SHORT_ANSWER_INSTRUCTION = "Answer with a short phrase only (a name, number, date or a few words)."
ARTICLES = re.compile(r"\b(a|an|the)\b")
# (question) -> (answers by model id, families by model id); failed models are left out.
PanelAnswerer = Callable[[str], Awaitable[tuple[dict[str, str], dict[str, str]]]]


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(ARTICLES.sub(" ", text).split())


def is_correct(prediction: str, accepted: list[str], question: str = "") -> bool:
    pred = f" {normalize(prediction)} "
    asked = f" {normalize(question)} "
    for gold in accepted:
        g = normalize(gold)
        if g and f" {g} " in pred and f" {g} " not in asked:
            return True
    return False


def load_questions(data_file: Path, limit: int | None) -> list[dict[str, Any]]:
    if not Path(data_file).is_file():
        raise InputError(f"no calibration data at {data_file}")
    rows: list[dict[str, Any]] = []
    with _reading(data_file) as fh:
        for n, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                _ = row["question"], list(row["answer"])
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{data_file}:{n} is not a calibration item") from None
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return rows


@contextmanager
def _reading(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file; undecodable or unreadable is an ``InputError``."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            yield fh
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def read_recorded(answers_file: Path) -> dict[str, dict[str, Any]]:
    """Recorded panels by question text; a torn last line (interrupted run) is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if Path(answers_file).is_dir():
        raise InputError(f"{answers_file} is a folder; --answers takes a file")
    if Path(answers_file).is_file():
        with _reading(answers_file) as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    done[row["question"]] = row
                except (ValueError, KeyError):
                    continue
    return done


async def record_answers(questions: list[dict[str, Any]], answers_file: Path, answerer: PanelAnswerer,
                         progress: Callable[[int, int], None] | None = None) -> int:
    """Ask the panel every question not yet in ``answers_file``; returns how many were asked."""
    done = read_recorded(answers_file)
    todo = [q for q in questions if q["question"] not in done]
    Path(answers_file).parent.mkdir(parents=True, exist_ok=True)
    for n, row in enumerate(todo, 1):
        answers, families = await answerer(row["question"])
        if answers:  # no member answered (a server down?): not cached, asked again next run
            record = {"question": row["question"], "answers": answers, "families": families}
            _append(Path(answers_file), record)  # one line per question: resumable
        if progress is not None:
            progress(n, len(todo))
    return len(todo)


def _append(path: Path, record: dict[str, Any]) -> None:
    torn = False
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, 2)
            torn = fh.read(1) != b"\n"  # an interrupted write left half a line
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if torn else "") + json.dumps(record) + "\n")


def panel_answerer(providers: dict[str, Provider], families: dict[str, str], *,
                   max_tokens: int = 32, timeout: float = 60.0) -> PanelAnswerer:
    """Ask each provider in turn (local models share two cores); failures are left out."""

    async def answer(question: str) -> tuple[dict[str, str], dict[str, str]]:
        answers: dict[str, str] = {}
        for model_id, provider in providers.items():
            request = ChatRequest(
                messages=[Message("system", SHORT_ANSWER_INSTRUCTION), Message("user", question)],
                model=model_id, temperature=0.0, max_tokens=max_tokens, timeout=timeout)
            try:
                completion = await asyncio.wait_for(provider.complete(request), timeout)
            except (DruxError, TimeoutError):
                continue
            if completion.text.strip():
                answers[model_id] = completion.text.strip()
        return answers, {m: families[m] for m in answers}

    return answer


def selective_accuracy(scores: list[float], correct: list[bool], share: float) -> float:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    top = order[: max(1, round(share * len(order)))]
    return sum(correct[i] for i in top) / len(top)


def eval_calibration(data_file: Path, answers_file: Path, *, limit: int | None = None,
                     backend: str = "fast", judge: Judge | None = None) -> dict[str, Any]:
    """Score the recorded panels (run ``record_answers`` first) and report calibration."""
    questions = load_questions(data_file, limit)
    recorded = read_recorded(answers_file)
    scores: list[float] = []
    correct: list[bool] = []
    skipped = 0
    for row in questions:
        rec = recorded.get(row["question"])
        if rec is None:
            continue
        result = score_answers(row["question"], rec["answers"], rec["families"],
                               backend=backend, judge=judge)
        if result.score is None or result.consensus_model is None:
            skipped += 1  # fewer than two answers: no score to calibrate
            continue
        # Below the no-consensus threshold there is no consensus answer; what is checked is
        # the largest group's answer, so low scores stay in the measurement.
        leading = result.consensus_answer or rec["answers"][result.consensus_model]
        scores.append(result.score)
        correct.append(is_correct(leading, row["answer"], row["question"]))
    n = len(scores)
    if n == 0:
        raise InputError(f"no recorded panel answers in {answers_file}; record them first")
    report: dict[str, Any] = {
        "backend": backend, "n_questions": n, "n_unscored": skipped,
        "n_missing": len(questions) - n - skipped, "accuracy": sum(correct) / n,
        "n_correct": sum(correct), "AUROC": auroc([int(c) for c in correct], scores),
    }
    for share in (0.10, 0.25, 0.50):
        report[f"selective_accuracy_top{int(share * 100)}"] = selective_accuracy(scores, correct, share)
    return report


def format_calibration(report: dict[str, Any]) -> str:
    return (
        f"[calibration] backend={report['backend']}  {report['n_questions']} questions "
        f"({report['n_unscored']} unscored, {report['n_missing']} not recorded)\n"
        f"    panel accuracy={report['accuracy']:.3f} ({report['n_correct']} correct)  "
        f"AUROC={report['AUROC']:.4f}  selective accuracy top10%={report['selective_accuracy_top10']:.3f} "
        f"top25%={report['selective_accuracy_top25']:.3f} top50%={report['selective_accuracy_top50']:.3f}"
    )

"""What the models are asked beyond one shot: a deliberation round and a synthesis.

Pure prompt building and parsing, shared by the product (``services.rounds``,
``services.synthesis``) and the measurement (``consensus.rounds_eval``), so what is
measured is what ships.

- A deliberation round (round 2 and later): each model sees its own previous answer as
  its own turn, then the other models' previous answers, anonymised ("Model A", ...),
  and answers again. It is asked to end with one line "Why: ..." saying why it kept or
  changed its answer; that line is kept apart from the answer, so it is never scored.
- A synthesis: one model writes one answer from the panel's answers, naming the models
  behind each part and saying where they disagree. Without consensus (a score below
  ``verdicts.NO_CONSENSUS_BELOW``) it is asked to set the positions side by side instead
  of picking one. A synthesis is never a vote: it is not in the score, groups or claims.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from drux.types import Message
from drux.verdicts import has_consensus

MAX_ROUNDS = 4
REVISION_INSTRUCTION = (
    "Other models on the panel answered the same question (their names are hidden):\n"
    "{others}\n\n"
    "Question: {question}\n"
    "Answer the question again: keep your answer or change it, and do not simply follow the "
    "majority. Write your answer on the first line, in the same form as before. On a second "
    "line, write \"Why:\" and one sentence on why you kept or changed it."
)
_ANSWER = re.compile(r"^\W*answer\W*:\s*", re.IGNORECASE)
_WHY = re.compile(r"^\W*(why|reason)\W*:\s*", re.IGNORECASE)


def anonymous_label(index: int) -> str:
    """"Model A", "Model B", ...: the other models' names are hidden in a round, so a model
    weighs what they say, not who says it."""
    return f"Model {string.ascii_uppercase[index % 26]}"


def revision_messages(first_turn: list[Message], question: str, own: str | None,
                      others: list[str]) -> list[Message]:
    """The messages of a round after the first: the model's first turn (system prompt and
    question), its own previous answer as its reply, then the others' answers."""
    listed = "\n".join(f"{anonymous_label(i)}: {' '.join(text.split())}"
                       for i, text in enumerate(others)) or "(no other model answered)"
    turn = [*first_turn]
    if own:
        turn.append(Message("assistant", own))
    turn.append(Message("user", REVISION_INSTRUCTION.format(others=listed, question=question)))
    return turn


@dataclass(frozen=True, slots=True)
class Revision:
    answer: str  # what is scored and shown as the answer
    why: str | None  # the one line on keeping or changing it, when the model gave one


def split_revision(text: str) -> Revision:
    """The answer and its "Why:" line. Small models do not always follow the form: without
    an "Answer:" line the answer is what precedes the "Why:" line, else the whole text."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    why_at = next((i for i in range(len(lines) - 1, -1, -1) if _WHY.match(lines[i])), None)
    why = None
    if why_at is not None:
        why = " ".join(_WHY.sub("", lines[why_at]).split()).strip("*_ ") or None
    marked = [_ANSWER.sub("", line).strip("*_ ") for line in lines if _ANSWER.match(line)]
    if marked and marked[0]:
        return Revision(marked[0], why)
    before = lines[:why_at] if why_at is not None else lines
    answer = "\n".join(before).strip()
    if answer:
        return Revision(answer, why)
    return Revision(why or text.strip(), None)  # only a "Why:" line: it is all it said


SYNTHESIS_WITH_CONSENSUS = (
    "Write one short answer to the question from these answers. After each part, name the "
    "models that back it in brackets. If a model disagrees with a part, say so plainly "
    "and name it; do not hide a disagreement."
)
SYNTHESIS_WITHOUT_CONSENSUS = (
    "The models do not agree (no consensus), so do not pick one answer and do not merge "
    "them. Set the positions side by side: write each position on its own line, followed by "
    "the names of the models that hold it in brackets. End with one line that says what "
    "they disagree on."
)


def synthesis_messages(question: str, answers: dict[str, str], score: float | None,
                       positions: str | None) -> list[Message]:
    """The request a synthesizer answers. The models are named (the synthesis says which
    back each part); ``positions`` is the panel's groups ("Canberra: a, b · Sydney: c")."""
    listed = "\n".join(f"- {model}: {' '.join(text.split())}" for model, text in answers.items())
    consensus = has_consensus(score)
    task = SYNTHESIS_WITH_CONSENSUS if consensus else SYNTHESIS_WITHOUT_CONSENSUS
    agreement = ""
    if score is not None:
        agreement = f"\n\nAgreement between them: {score:.0f}/100"
        if positions:
            agreement += f"; groups: {positions}"
    user = f"Question: {question}\n\nThe panel's answers:\n{listed}{agreement}\n\n{task}"
    system = ("You write the final answer of a panel of AI models from their answers. "
              "Use only what they say.")
    return [Message("system", system), Message("user", user)]

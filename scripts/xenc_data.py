"""Data for the agreement cross-encoder: dev answers, the seeded question split, and the
generated rewordings and negations (pure Python; shared by train_cross_encoder.py and
eval_cross_encoder.py, which run in the training venv, never in the product).

Only the agreement benchmark's DEV files are read. The held-out split is not used, nor guessed.

Labels follow the benchmark: two correct answers to a question agree (1); a correct and an
incorrect one disagree (0). Two incorrect answers are never paired (the benchmark says nothing
about whether they agree). The augmentation is what makes the model measure agreement rather
than truth: every answer, right or wrong, agrees with its own rewordings, and disagrees with its
generated negation.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

DEFAULT_DATA = Path("/work/shared/bench/agreement")


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    right: tuple[str, ...]
    wrong: tuple[str, ...]


@dataclass(frozen=True)
class Example:
    qid: str
    question: str
    a: str
    b: str
    label: int
    kind: str  # "bench", "reword" or "negate"


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def load_questions(data: Path = DEFAULT_DATA) -> list[Question]:
    """Every dev question with its distinct right and wrong answers (from pairs and sets)."""
    text: dict[str, str] = {}
    answers: dict[str, dict[str, bool]] = defaultdict(dict)
    for name in ("dev_pairs.jsonl", "dev_sets.jsonl"):
        for it in load_jsonl(data / name):
            text[it["qid"]] = it["question"]
            for ans, ok in zip(it["answers"], it["is_correct"], strict=True):
                answers[it["qid"]][ans] = bool(ok)
    out = []
    for qid in sorted(text):
        d = answers[qid]
        out.append(Question(qid, text[qid], tuple(a for a in d if d[a]),
                            tuple(a for a in d if not d[a])))
    return out


def split_questions(qids: list[str], seed: int, val_share: float) -> tuple[set[str], set[str]]:
    """Seeded question-grouped split of dev: (train qids, validation qids)."""
    order = sorted(qids)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_share)
    return set(order[n_val:]), set(order[:n_val])


def bench_pairs(questions: list[Question]) -> list[Example]:
    """All (right, right) = 1 and (right, wrong) = 0 pairs of each question, one order each."""
    out = []
    for q in questions:
        for a, b in combinations(q.right, 2):
            out.append(Example(q.qid, q.text, a, b, 1, "bench"))
        for a in q.right:
            for b in q.wrong:
                out.append(Example(q.qid, q.text, a, b, 0, "bench"))
    return out


# ------------------------------------------------------------------ rewordings
_END_PUNCT = re.compile(r"[.!?;]+$")
_HEDGES = ("I think", "I believe", "In my view,", "As far as I know,", "I'd say",
           "Honestly,", "To my knowledge,")


def lower_first(s: str) -> str:
    # keep "I", acronyms and names that start with two capitals as they are
    if len(s) > 1 and (s[:2] == "I " or s[:2].isupper()):
        return s
    return s[:1].lower() + s[1:]


def reword_casing(s: str, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return s.lower()
    if choice == 1:
        return s.upper()
    return s[:1].upper() + s[1:].lower() if s[:2] != s[:2].upper() else s.swapcase()


def reword_punctuation(s: str, rng: random.Random) -> str:
    bare = _END_PUNCT.sub("", s.strip())
    ending = rng.choice(["", ".", "!", "...", " ."])
    if ending == "" and bare == s.strip():
        ending = "."
    # never the comma inside a number: "10,000" is not "10 -000"
    body = re.sub(r",(?!\d)|(?<!\d),", rng.choice([",", ";", " -"]), bare) if rng.random() < 0.5 else bare
    return body + ending


def reword_hedge(s: str, rng: random.Random) -> str:
    return f"{rng.choice(_HEDGES)} {lower_first(s.strip())}"


_SUBORDINATE = re.compile(r"^(.+?),?\s+(because|since|as long as|if|when|unless|although)\s+(.+)$",
                          re.I)

_LEADING_SUBORDINATE = re.compile(
    r"^(if|when|because|since|although|unless|while|as long as)\s+([^,]+),\s*(.+)$", re.I)


def reword_reorder(s: str, rng: random.Random) -> str | None:
    """Swap a subordinate clause and its main clause ("If X, Y" <-> "Y if X"); None when there
    is none. Sentence swaps and "and" splits were tried and dropped: they changed the meaning
    ("However, ..." loses its antecedent). One sentence only: a clause moved across a full stop
    joins two sentences into another statement."""
    body = _END_PUNCT.sub("", s.strip())
    if re.search(r"[.!?]\s", body):
        return None
    m = _LEADING_SUBORDINATE.match(body)
    if m and len(m.group(3).split()) >= 2:
        conj, sub, main = m.groups()
        return f"{main[:1].upper()}{main[1:]} {conj.lower()} {sub}."
    m = _SUBORDINATE.match(body)
    if m and len(m.group(1).split()) >= 2 and len(m.group(3).split()) >= 2:
        main, conj, sub = m.groups()
        return f"{conj.capitalize()} {sub}, {lower_first(main)}."
    return None


REWORDINGS = {
    "casing": reword_casing,
    "punctuation": reword_punctuation,
    "hedge": reword_hedge,
    "reorder": reword_reorder,
}


def random_rewording(s: str, rng: random.Random) -> str:
    """One to three rewording families applied in a random order (identity when none applies)."""
    families = list(REWORDINGS)
    rng.shuffle(families)
    out = s
    for name in families[: rng.randint(1, 3)]:
        new = REWORDINGS[name](out, rng)
        if new is not None:
            out = new
    return out


# ------------------------------------------------------------------ negations
_UNNEGATE = [  # (pattern, replacement) that remove an existing negation
    (r"\bcannot\b", "can"), (r"\bcan't\b", "can"), (r"\bwon't\b", "will"),
    (r"\b(is|are|was|were|do|does|did|has|have|had|could|would|should|must)n't\b", r"\1"),
    (r"\b(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|must|may|might)"
     r" not\b", r"\1"),
    (r"\bnever\b", "sometimes"), (r"\bnothing\b", "something"), (r"\bnobody\b", "somebody"),
    (r"\bno one\b", "someone"), (r"\bnone\b", "some"), (r"\bno\b", "some"), (r"\bnot\b", ""),
]
_AUX = re.compile(r"\b(is|are|was|were|can|could|will|would|should|must|may|might|has|have|does|do"
                  r"|did)\b", re.I)
_YES_NO = re.compile(r"^\s*(yes|no)\b(?:[,.!]\s*|$)", re.I)
_NOT_TRUE = ("It is not true that", "It is false that", "It is not the case that")


def _negate_clause(s: str, rng: random.Random) -> str:
    for pattern, repl in _UNNEGATE:
        new, n = re.subn(pattern, repl, s, count=1, flags=re.I)
        if n:
            return re.sub(r"\s{2,}", " ", new).strip()
    m = _AUX.search(s)
    if m and m.start() < 60:
        word = m.group(1)
        if word.lower() == "can":
            return s[: m.start()] + word[0] + "annot" + s[m.end():]
        return f"{s[: m.end()]} not{s[m.end():]}"
    return f"{rng.choice(_NOT_TRUE)} {lower_first(_END_PUNCT.sub('', s.strip()))}."


def negate(s: str, rng: random.Random) -> str:
    """A statement that contradicts s (rule-based: flip yes/no, remove or insert one negation,
    or deny the whole sentence)."""
    m = _YES_NO.match(s)
    if m:
        flipped = "No" if m.group(1).lower() == "yes" else "Yes"
        rest = s[m.end():]
        return f"{flipped}, {lower_first(_negate_clause(rest, rng))}" if rest else flipped
    return _negate_clause(s, rng)


# ------------------------------------------------------------------ substitutions
# A number, or a capitalised word that does not start the answer: what a short factual answer
# turns on ("Canberra" / "Sydney", "391" / "411"). The benchmark's wrong answers are whole
# misconceptions, so a model trained on it alone scored "Canberra." against "Sydney." as agreeing.
_KEY = re.compile(r"(?<!^)(?<![.!?]\s)\b(?:[A-Z][a-z]{2,}(?:\s[A-Z][a-z]{2,})*|\d[\d,.]*\d|\d)\b")
_SHORT_FORMS = ("{}", "{}.", "It is {}.", "The answer is {}.", "{}!", "I believe it is {}.")


def key_terms(s: str) -> list[str]:
    return [m.group(0) for m in _KEY.finditer(s)]


def key_pool(questions: list[Question]) -> tuple[list[str], list[str]]:
    """(numbers, names) found in the answers: what substitutions draw from."""
    numbers, names = set(), set()
    for q in questions:
        for ans in (*q.right, *q.wrong):
            for t in key_terms(ans):
                (numbers if t[0].isdigit() else names).add(t)
    return sorted(numbers), sorted(names)


def substitute(s: str, pool: tuple[list[str], list[str]], rng: random.Random
               ) -> tuple[str, str, str] | None:
    """(s with one key term replaced by another of its kind, the term, its replacement)."""
    terms = key_terms(s)
    if not terms:
        return None
    term = rng.choice(terms)
    if term.isdigit():  # another number near it ("391" / "411"), or one from the pool
        other = str(max(0, int(term) + rng.choice((-100, -10, -2, -1, 1, 2, 10, 20, 100))))
    else:
        kind = pool[0] if term[0].isdigit() else pool[1]
        other = rng.choice(kind) if kind else term
    if other.casefold() == term.casefold() or other.casefold() in s.casefold():
        return None
    return s.replace(term, other, 1), term, other


def substitutions(questions: list[Question], rng: random.Random,
                  pool: tuple[list[str], list[str]]) -> list[Example]:
    """For every answer with a key term: the answer with the term swapped = disagree; and, half
    the time, the bare term against another bare term = disagree and against a short phrasing
    of itself = agree, so short answers are read by what they name."""
    out = []
    for q in questions:
        for ans in (*q.right, *q.wrong):
            swapped = substitute(ans, pool, rng)
            if swapped is None:
                continue
            new, term, other = swapped
            out.append(Example(q.qid, q.text, ans, new, 0, "swap"))
            if rng.random() < 0.5:
                short = rng.choice(_SHORT_FORMS).format(term)
                out.append(Example(q.qid, q.text, short, rng.choice(_SHORT_FORMS).format(other),
                                   0, "swap"))
                out.append(Example(q.qid, q.text, short, rng.choice(_SHORT_FORMS).format(term),
                                   1, "swap"))
    return out


def augment(questions: list[Question], rng: random.Random,
            identity: bool = False) -> list[Example]:
    """For every answer, right or wrong: one rewording (agree) and one negation (disagree);
    with identity, also the answer with itself (agree). The model is uncased, so a casing-only
    rewording is the identity too: without these pairs it scored an answer against itself at a
    median 0.72 for wrong answers and 0.90 for right ones (run 2 in bench/RESULTS.md)."""
    out = []
    for q in questions:
        for ans in (*q.right, *q.wrong):
            if identity:
                out.append(Example(q.qid, q.text, ans, ans, 1, "identity"))
            reworded = random_rewording(ans, rng) if rng.random() > 0.05 else ans
            out.append(Example(q.qid, q.text, ans, reworded, 1, "reword"))
            out.append(Example(q.qid, q.text, ans, negate(ans, rng), 0, "negate"))
    return out

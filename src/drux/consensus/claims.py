"""The claim map: which statements are shared, contradicted, or unique to one model.

Each answer is split into atomic claims (sentences, then clauses joined by ';' or
', but'). Claims of different models that say the same thing are merged into one
entry. Then each entry is judged against every other answer, claim by claim (never
by which group the answer is in): a model supports it when one of its claims states
it, and contradicts it when one of its claims clashes with it (polarity, numbers,
dates, entities, a list with other members, or one affirms what the other denies).

A claim without words of its own beyond the question's ("No, the Earth is not
flat" to "Is the Earth flat?") is a stance: yes or no, from its polarity or its
negation; two stances agree or clash as yes and no do.

An answer cut by the token limit is judged on what it says: a claim it is silent on
is not unique for that (its end may have held it), so it lists it as not reached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drux.consensus.signals import (
    STOPWORDS,
    AnswerView,
    PairSignals,
    compare,
    question_terms,
    read_answer,
    split_sentences,
    stem_word,
)
from drux.consensus.statements import OPPOSITE_REASON, opposite_statement

CLAUSE = re.compile(r";\s+|,\s+(?=but\b|however\b|whereas\b)", re.I)
MIN_CLAIM_WORDS = 3
SAME_LEXICAL = 0.5
RELATED_LEXICAL = 0.2
SAME_COSINE = 0.8
RELATED_COSINE = 0.55
# Embedding every claim of long answers costs more than the fast backend's budget.
MAX_EMBEDDED_CLAIMS = 40
# Matching claims is quadratic: only the first claims of a very long answer are mapped
# (a 300-word answer has about 20).
MAX_CLAIMS_PER_ANSWER = 40
SHORT_CLAIM_TERMS = 3

Embed = Callable[[list[str]], np.ndarray]
# (model a, model b) -> the reasons their answers contradict, or None if they do not.
PairClash = Callable[[str, str], list[str] | None]


# Words, or one mark of punctuation: what the list reader walks through (in one pass: a
# regular expression for "a, b and c" took quadratic time on "a,a,a,..." answers).
LIST_TOKEN = re.compile(r"[\w'-]+|[^\w\s'-]")
YES_NO = re.compile(r"^\W*(?:is|are|was|were|do|does|did|can|could|will|would|should|shall|"
                    r"has|have|had|may|might|must)\b", re.I)


@dataclass(slots=True)
class Claim:
    text: str
    models: list[str]  # models that state it (first one is the source of ``text``)
    contradicted_by: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # Answers cut by the token limit that say nothing about it (they may not have got there).
    not_reached_by: list[str] = field(default_factory=list)
    # Each contradicting model's own reasons (the pair it makes with the claim's source).
    clash_reasons: dict[str, list[str]] = field(default_factory=dict)

    @property
    def unique(self) -> bool:
        return len(self.models) == 1 and not self.contradicted_by and not self.not_reached_by

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "supported_by": list(self.models),
                "contradicted_by": list(self.contradicted_by), "unique": self.unique,
                "reasons": list(self.reasons), "not_reached_by": list(self.not_reached_by)}


def split_claims(answer: str) -> list[str]:
    claims: list[str] = []
    for sentence in split_sentences(answer):
        for part in CLAUSE.split(sentence):
            part = part.strip(" ,;")
            if len(part.split()) >= MIN_CLAIM_WORDS or (part and not claims):
                claims.append(part)
            elif claims and part:
                claims[-1] = f"{claims[-1]}, {part}"
    return claims or ([answer.strip()] if answer.strip() else [])


@dataclass(slots=True)
class _Item:
    model: str
    text: str
    view: AnswerView
    index: int
    items: frozenset[str] = frozenset()  # the members of a list it states ("red, blue and green")
    stance: str | None = None  # "yes"/"no" of a claim with no words beyond the question's


def _list_items(text: str) -> frozenset[str]:
    """The members of every "a, b(,) and/or c" list of one-word items in ``text``."""
    found: set[str] = set()
    run: list[str] = []
    last = ""  # "word", "comma" or "conj": what the run ended with
    for tok in LIST_TOKEN.findall(text.lower()):
        if tok == "," and last == "word":
            last = "comma"
        elif tok in ("and", "or") and len(run) >= 2 and last in ("word", "comma"):
            last = "conj"
        elif tok[0].isalnum() or tok[0] in "_'-":
            if last == "conj":
                # Numbers are read with their units by the signals, not as list members.
                found.update(stem_word(w) for w in (*run, tok)
                             if w not in STOPWORDS and not w.isdigit())
                run, last = [], ""
            else:
                run = [*run, tok] if last == "comma" else [tok]
                last = "word"
        else:
            run, last = [], ""
    return frozenset(found)


def _stance(view: AnswerView, yes_no: bool) -> str | None:
    if not yes_no or view.content or view.numbers or view.years:
        return None
    if view.polarity:
        return view.polarity
    return "no" if view.negated else "yes"


def _list_clash(a: _Item, b: _Item) -> list[str]:
    """Two lists of the same things with different members ("red, blue and yellow" vs
    "red, blue and green"): word overlap alone read them as the same claim."""
    if not a.items or not b.items or not a.items & b.items:
        return []
    if a.items <= b.items or b.items <= a.items:
        return []  # one names fewer members: it does not deny the others
    ours, theirs = sorted(a.items - b.items), sorted(b.items - a.items)
    return [f"list: {', '.join(ours)} vs {', '.join(theirs)}"]


# What ``compare`` said of two claims (by their indexes, in order): a claim map compares a
# pair once, however many times its relation is asked for (``_needs_cosine`` asks six times).
Compared = dict[tuple[int, int], PairSignals]


def _compared(a: _Item, b: _Item, compared: Compared | None) -> PairSignals:
    if compared is None:
        return compare(a.view, b.view)
    signals = compared.get((a.index, b.index))
    if signals is None:
        signals = compared[(a.index, b.index)] = compare(a.view, b.view)
    return signals


def _relation(a: _Item, b: _Item, sims: np.ndarray | None,
              compared: Compared | None = None) -> tuple[str, list[str]]:
    """'same', 'clash', or 'other' for two claims of different models."""
    if a.stance and b.stance:
        same_stance = a.stance == b.stance
        return ("same", []) if same_stance else ("clash", [f"polarity: {a.stance} vs {b.stance}"])
    listed = _list_clash(a, b)
    if listed:
        return "clash", listed
    lexical = _overlap(a.view, b.view)
    cosine = float(sims[a.index, b.index]) if sims is not None else None
    polar = a.view.polarity is not None and b.view.polarity is not None
    # Short claims that both state a number, date or name answer the question directly.
    short = min(len(a.view.content), len(b.view.content)) <= SHORT_CLAIM_TERMS
    facts = short and ((a.view.numbers and b.view.numbers) or (a.view.years and b.view.years)
                       or (a.view.entities and b.view.entities))
    if (not polar and not facts and lexical < RELATED_LEXICAL
            and (cosine is None or cosine < RELATED_COSINE)):
        return "other", []  # unrelated: skip the full comparison (most pairs of long answers)
    signals = _compared(a, b, compared)
    if opposite_statement(a.text, b.text):  # as the answers' pair judgment says (statements.py)
        return "clash", list(signals.reasons) or [OPPOSITE_REASON]
    shared_fact = signals.number_match or signals.year_match or signals.entity_overlap >= 0.5
    # Close embeddings alone are not the same claim when their own words differ
    # ("...is Canberra" and "...is Sydney" embed alike).
    close = cosine is not None and cosine >= SAME_COSINE and _covers(a.view, b.view)
    same = lexical >= SAME_LEXICAL or close or (bool(facts) and shared_fact)
    related = same or bool(facts) or lexical >= RELATED_LEXICAL or (
        cosine is not None and cosine >= RELATED_COSINE)
    # A yes/no clash answers the question itself, whatever words each claim uses.
    if signals.polarity_clash or (related and signals.reasons):
        return "clash", list(signals.reasons)
    return ("same", []) if same else ("other", [])


def _covers(a: AnswerView, b: AnswerView) -> bool:
    """The shorter claim's own words are at least half in the other (or it has none)."""
    fewer = min(len(a.content), len(b.content))
    return fewer == 0 or 2 * len(a.content & b.content) >= fewer


def _overlap(a: AnswerView, b: AnswerView) -> float:
    union = len(a.content | b.content)
    return len(a.content & b.content) / union if union else 0.0


def build_claims(question: str, answers: dict[str, str], embed: Embed | None = None,
                 truncated: frozenset[str] = frozenset(),
                 pair_clash: PairClash | None = None) -> list[Claim]:
    """The claim map; ``truncated``: the models whose answers the token limit cut;
    ``pair_clash``: the pair judgments, which decide between two one-claim answers
    when their claims show no clash of their own ("Mercury." vs "Earth.")."""
    terms = question_terms(question)
    yes_no = bool(YES_NO.match(question))
    items: list[_Item] = []
    for model, answer in answers.items():
        for text in split_claims(answer)[:MAX_CLAIMS_PER_ANSWER]:
            view = read_answer(text, q_terms=terms)
            items.append(_Item(model, text, view, len(items), _list_items(text),
                               _stance(view, yes_no)))
    compared: Compared = {}
    sims = None
    if embed is not None and 1 < len(items) <= MAX_EMBEDDED_CLAIMS:
        sims = _needed_sims(items, embed, compared)
    memo: dict[tuple[int, int], tuple[str, list[str]]] = {}

    def relation(a: _Item, b: _Item) -> tuple[str, list[str]]:
        key = (a.index, b.index)
        if key not in memo:
            memo[key] = _relation(a, b, sims, compared)
        return memo[key]

    heads: list[_Item] = []
    for item in items:
        # A claim another model already stated is not listed twice.
        if not any(h.model != item.model and relation(h, item)[0] == "same" for h in heads):
            heads.append(item)
    by_model: dict[str, list[_Item]] = {}
    for item in items:
        by_model.setdefault(item.model, []).append(item)
    return [_judge_claim(head, by_model, relation, truncated, pair_clash) for head in heads]


# One cosine from each band ``_relation`` tells apart: below RELATED_COSINE (as no embedding),
# from it to SAME_COSINE, and from SAME_COSINE up.
_COSINE_BANDS = (0.0, RELATED_COSINE, SAME_COSINE)


def _needs_cosine(a: _Item, b: _Item, probe: np.ndarray,
                  compared: Compared | None = None) -> bool:
    """Whether the two claims' relation (either way round) depends on how close their
    embeddings are: most pairs are decided by their words alone (the same words, a shared
    fact, nothing in common). ``probe``: a scratch matrix of every claim."""
    outcomes = set()
    for cosine in _COSINE_BANDS:
        probe[a.index, b.index] = probe[b.index, a.index] = cosine
        for x, y in ((a, b), (b, a)):
            kind, reasons = _relation(x, y, probe, compared)
            outcomes.add((x.index, kind, tuple(reasons)))
    return len(outcomes) > 2  # one outcome per order whatever the cosine


def _needed_sims(items: list[_Item], embed: Embed, compared: Compared | None = None) -> np.ndarray:
    """Claim-to-claim cosines for the pairs of different models whose relation depends on
    one; the others stay 0 (the same outcome as no embedding, shown by ``_needs_cosine``).
    Only the claims in such pairs are embedded: the same claim map for less model time."""
    sims = np.zeros((len(items), len(items)), dtype=np.float32)
    pairs = [(a, b) for i, a in enumerate(items) for b in items[i + 1:]
             if a.model != b.model and _needs_cosine(a, b, sims, compared)]
    sims[:] = 0.0
    needed = sorted({it.index for pair in pairs for it in pair})
    if not needed:
        return sims
    vectors = embed([items[i].text for i in needed])
    row = {index: n for n, index in enumerate(needed)}
    for a, b in pairs:
        sims[a.index, b.index] = sims[b.index, a.index] = vectors[row[a.index]] @ vectors[row[b.index]]
    return sims


def _judge_claim(head: _Item, by_model: dict[str, list[_Item]],
                 relation: Callable[[_Item, _Item], tuple[str, list[str]]],
                 truncated: frozenset[str], pair_clash: PairClash | None) -> Claim:
    """The claim against every other answer: stated, contradicted, or neither."""
    claim = Claim(head.text, [head.model])
    whole = len(by_model[head.model]) == 1  # the claim is its model's whole answer
    for model, claims in by_model.items():
        if model == head.model:
            continue
        judged = [relation(head, other) for other in claims]
        if whole and len(claims) == 1 and pair_clash is not None and judged[0][0] == "other":
            reasons = pair_clash(head.model, model)
            if reasons is not None:
                judged = [("clash", reasons)]
        if any(kind == "same" for kind, _ in judged):
            claim.models.append(model)
        elif any(kind == "clash" for kind, _ in judged):
            claim.contradicted_by.append(model)
            own = claim.clash_reasons.setdefault(model, [])
            for kind, reasons in judged:
                if kind == "clash":
                    own.extend(r for r in reasons if r not in own)
                    claim.reasons.extend(r for r in reasons if r not in claim.reasons)
        elif model in truncated:
            claim.not_reached_by.append(model)
    return claim

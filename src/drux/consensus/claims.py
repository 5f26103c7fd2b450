"""The claim map: which statements are shared, contradicted, or unique to one model.

Each answer is split into atomic claims (sentences, then clauses joined by ';' or
', but'). Claims of different models that say the same thing are merged into one
entry; a claim is contradicted by a model when that model has a related claim
(same topic words or close embedding) that clashes with it (polarity, numbers,
dates, entities, or one affirms what the other denies).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drux.consensus.signals import AnswerView, compare, question_terms, read_answer, split_sentences

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


@dataclass(slots=True)
class Claim:
    text: str
    models: list[str]  # models that state it (first one is the source of ``text``)
    contradicted_by: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def unique(self) -> bool:
        return len(self.models) == 1 and not self.contradicted_by

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "supported_by": list(self.models),
                "contradicted_by": list(self.contradicted_by), "unique": self.unique,
                "reasons": list(self.reasons)}


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


def _relation(a: _Item, b: _Item, sims: np.ndarray | None) -> tuple[str, list[str]]:
    """'same', 'clash', or 'other' for two claims of different models."""
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
    signals = compare(a.view, b.view)
    shared_fact = signals.number_match or signals.year_match or signals.entity_overlap >= 0.5
    same = (lexical >= SAME_LEXICAL or (cosine is not None and cosine >= SAME_COSINE)
            or (bool(facts) and shared_fact))
    related = same or bool(facts) or lexical >= RELATED_LEXICAL or (
        cosine is not None and cosine >= RELATED_COSINE)
    # A yes/no clash answers the question itself, whatever words each claim uses.
    if signals.polarity_clash or (related and signals.reasons):
        return "clash", signals.reasons
    return ("same", []) if same else ("other", [])


def _overlap(a: AnswerView, b: AnswerView) -> float:
    union = len(a.content | b.content)
    return len(a.content & b.content) / union if union else 0.0


def build_claims(question: str, answers: dict[str, str], embed: Embed | None = None) -> list[Claim]:
    terms = question_terms(question)
    items: list[_Item] = []
    for model, answer in answers.items():
        for text in split_claims(answer)[:MAX_CLAIMS_PER_ANSWER]:
            items.append(_Item(model, text, read_answer(text, q_terms=terms), len(items)))
    sims = None
    if embed is not None and 1 < len(items) <= MAX_EMBEDDED_CLAIMS:
        vectors = embed([it.text for it in items])
        sims = vectors @ vectors.T
    memo: dict[tuple[int, int], tuple[str, list[str]]] = {}

    def relation(a: _Item, b: _Item) -> tuple[str, list[str]]:
        key = (a.index, b.index)
        if key not in memo:
            memo[key] = _relation(a, b, sims)
        return memo[key]

    groups: list[tuple[_Item, Claim]] = []
    for item in items:
        for head, claim in groups:
            if item.model in claim.models or head.model == item.model:
                continue
            if relation(head, item)[0] == "same":
                claim.models.append(item.model)
                break
        else:
            groups.append((item, Claim(item.text, [item.model])))
    for head, claim in groups:
        for other in items:
            if other.model in claim.models or other.model in claim.contradicted_by:
                continue
            kind, reasons = relation(head, other)
            if kind == "clash":
                claim.contradicted_by.append(other.model)
                claim.reasons.extend(r for r in reasons if r not in claim.reasons)
    return [claim for _, claim in groups]

"""Contradiction signals that embedding similarity misses.

Two answers can share almost every word and still contradict ("...pass through
the seeds" vs "...grow in your stomach"; "Yes, ..." vs "No, ..."; "in 1969" vs
"in 1972"). This module reads each answer once into an ``AnswerView`` (polarity,
negation, numbers, years, named entities, asserted and denied terms, with the
"it is a myth that X, but Y" form turned into "X denied, Y asserted") and compares
two views into ``PairSignals``. Pure Python and regular expressions: fast, no model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:,\d{3})*(?:\.\d+)?%?")
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
POLARITY = re.compile(r"^\W*(yes|yeah|yep|true|correct|no|nope|false|incorrect)\b", re.I)
POSITIVE = {"yes", "yeah", "yep", "true", "correct"}
NEGATORS = {
    "not", "no", "never", "nothing", "none", "nobody", "nowhere", "neither", "nor", "cannot",
    "can't", "won't", "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't", "weren't",
    "hasn't", "haven't", "hadn't", "shouldn't", "wouldn't", "couldn't", "mustn't", "without",
    "unable", "impossible", "false", "myth", "untrue", "n't",
}
# "It is a myth that X, but Y" / "There is a misconception that X; in fact Y".
CONTRAST = re.compile(
    r"\b(?:myth|misconception|stereotype|wives'? tale|legend|belief|rumou?r|claim|"
    r"popular culture[^,]*?(?:shows?|suggests?|claims?)|people (?:think|believe|say))\s+"
    r"(?:is\s+)?(?:that\s+)?(?P<denied>.+?)(?:,\s*|\s+)(?:but|however|in fact|actually)\b(?P<asserted>.*)",
    re.I,
)
ABSTAIN = re.compile(
    r"^\W*(?:i have no comment|no comment|i (?:do not|don't) know|unknown|it depends|"
    r"i'?m not sure|i cannot (?:answer|say)|there is no (?:single|definitive|consensus))",
    re.I,
)
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 1_000_000, "billion": 1_000_000_000, "half": 0.5, "dozen": 12,
}
STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from as is are was were be
    been being am do does did doing have has had having it its it's this that these those there
    their they them he she his her him you your we our us i me my what which who whom whose when
    where why how will would shall should can could may might must also just only very really
    more most some any all each every other such into about over under after before up down out
    off again further once here both few own same too s t one ones because while during until
    against between through above below yes no not""".split()
)
# Certainty markers: "you may struggle to read" vs "you will go blind" differ in
# commitment even when the words overlap.
HEDGES = frozenset("""may might can could possibly depends depend likely often usually sometimes
    probably generally vary varies some""".split())
ABSOLUTES = frozenset("always will all every definitely certainly must only never everyone".split())
QUESTION_WORDS = STOPWORDS | {"happens", "happen", "called", "name", "real", "true", "actually"}


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def _number(token: str) -> float | None:
    token = token.rstrip("%").replace(",", "")
    if token in NUMBER_WORDS:
        return float(NUMBER_WORDS[token])
    try:
        return float(token)
    except ValueError:
        return None


def _numbers(tokens: list[str], exclude: set[str]) -> tuple[frozenset[float], frozenset[int]]:
    values: set[float] = set()
    years: set[int] = set()
    for tok in tokens:
        if tok in exclude:
            continue
        value = _number(tok)
        if value is None:
            continue
        if tok.isdigit() and len(tok) == 4 and 1000 <= value <= 2100:
            years.add(int(value))
        else:
            values.add(value)
    return frozenset(values), frozenset(years)


def _entities(text: str, exclude: set[str]) -> frozenset[str]:
    """Capitalised words that are not a sentence's first word, lower-cased."""
    found: set[str] = set()
    for sentence in split_sentences(text):
        tokens = WORD.findall(sentence)
        for i, tok in enumerate(tokens):
            low = tok.lower()
            if i == 0 or not tok[0].isupper() or low in STOPWORDS or low in exclude:
                continue
            found.add(low.rstrip("'s").rstrip("’s") or low)
        if tokens and tokens[0][0].isupper() and tokens[0].lower() not in STOPWORDS | exclude:
            # A sentence-initial capital counts when the word is capitalised elsewhere too.
            if any(t == tokens[0] for t in WORD.findall(text)[1:]):
                found.add(tokens[0].lower())
    return frozenset(found)


def _scoped_terms(tokens: list[str], exclude: set[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(asserted, denied) content terms; a negator denies the next few content words."""
    asserted: set[str] = set()
    denied: set[str] = set()
    scope = 0
    for tok in tokens:
        if tok in NEGATORS or tok.endswith("n't"):
            scope = 4
            continue
        if tok in {"but", "however", "instead", "rather"}:
            scope = 0
            continue
        if tok in STOPWORDS or tok in exclude or len(tok) < 3:
            continue
        stem = stem_word(tok)
        if scope > 0:
            denied.add(stem)
            scope -= 1
        else:
            asserted.add(stem)
    return frozenset(asserted), frozenset(denied)


def stem_word(tok: str) -> str:
    """A crude suffix stripper: enough to match 'seeds'/'seed', 'digested'/'digest'."""
    for suffix in ("ing", "ed", "es", "s"):
        if tok.endswith(suffix) and len(tok) - len(suffix) >= 3:
            return tok[: -len(suffix)]
    return tok


@dataclass(frozen=True, slots=True)
class AnswerView:
    text: str
    polarity: str | None  # "yes" / "no" / None
    negated: bool
    abstains: bool
    numbers: frozenset[float]
    years: frozenset[int]
    entities: frozenset[str]
    content: frozenset[str]
    asserted: frozenset[str]
    denied: frozenset[str]
    contrastive: bool = False
    hedged: bool = False
    absolute: bool = False
    n_words: int = 0

    @property
    def echoes_question(self) -> bool:
        """Says nothing beyond the question's own words (no new term, number or yes/no)."""
        return not (self.content or self.numbers or self.years or self.polarity)


def question_terms(question: str) -> set[str]:
    toks = words(question)
    return {t for t in toks if t not in QUESTION_WORDS} | {stem_word(t) for t in toks}


def read_answer(text: str, question: str = "", q_terms: set[str] | None = None) -> AnswerView:
    exclude = q_terms if q_terms is not None else question_terms(question)
    match = POLARITY.match(text)
    polarity = None
    if match:
        polarity = "yes" if match.group(1).lower() in POSITIVE else "no"
    contrast = CONTRAST.search(text)
    tokens = words(text)
    if contrast:
        # Everything the myth clause says is denied; the rest is asserted as usual.
        denied_part = words(contrast.group("denied"))
        rest = words(text[: contrast.start()] + " " + contrast.group("asserted"))
        asserted, denied_rest = _scoped_terms(rest, exclude)
        myth_terms = {stem_word(t) for t in denied_part
                      if t not in STOPWORDS and t not in exclude and len(t) >= 3}
        denied = denied_rest | frozenset(myth_terms - asserted)
        negated = True
    else:
        asserted, denied = _scoped_terms(tokens, exclude)
        negated = any(t in NEGATORS or t.endswith("n't") for t in tokens)
    numbers, years = _numbers(tokens, exclude)
    content = frozenset(stem_word(t) for t in tokens
                        if t not in STOPWORDS and t not in exclude and len(t) >= 3)
    return AnswerView(
        text=text, polarity=polarity, negated=negated or polarity == "no",
        abstains=bool(ABSTAIN.match(text)), numbers=numbers, years=years,
        entities=_entities(text, exclude), content=content, asserted=asserted, denied=denied,
        contrastive=contrast is not None,
        hedged=any(t in HEDGES for t in tokens), absolute=any(t in ABSOLUTES for t in tokens),
        n_words=len(tokens),
    )


@dataclass(slots=True)
class PairSignals:
    """What two answers share and where they clash; each conflict carries a reason."""

    polarity_clash: bool = False
    polarity_same: bool = False
    negation_mismatch: bool = False
    both_negated: bool = False
    number_clash: bool = False
    number_match: bool = False
    year_clash: bool = False
    year_match: bool = False
    entity_clash: bool = False
    entity_overlap: float = 0.0
    term_clash: int = 0  # terms asserted by one answer and denied by the other
    content_jaccard: float = 0.0
    abstain_any: bool = False
    hedge_mismatch: bool = False
    absolute_mismatch: bool = False
    length_gap: float = 0.0  # |log(1 + words_a) - log(1 + words_b)|
    reasons: list[str] = field(default_factory=list)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def _fmt(values: frozenset[float] | frozenset[int]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(values)[:3])


def compare(a: AnswerView, b: AnswerView) -> PairSignals:
    s = PairSignals()
    if a.polarity and b.polarity:
        s.polarity_clash = a.polarity != b.polarity
        s.polarity_same = not s.polarity_clash
        if s.polarity_clash:
            s.reasons.append(f"polarity: {a.polarity} vs {b.polarity}")
    s.negation_mismatch = a.negated != b.negated
    s.both_negated = a.negated and b.negated
    if a.numbers and b.numbers:
        s.number_match = bool(a.numbers & b.numbers)
        s.number_clash = not s.number_match
        if s.number_clash:
            s.reasons.append(f"number: {_fmt(a.numbers)} vs {_fmt(b.numbers)}")
    if a.years and b.years:
        s.year_match = bool(a.years & b.years)
        s.year_clash = not s.year_match
        if s.year_clash:
            s.reasons.append(f"date: {_fmt(a.years)} vs {_fmt(b.years)}")
    if a.entities and b.entities:
        s.entity_overlap = _jaccard(a.entities, b.entities)
        s.entity_clash = s.entity_overlap == 0.0
        if s.entity_clash:
            names = f"{', '.join(sorted(a.entities)[:2])} vs {', '.join(sorted(b.entities)[:2])}"
            s.reasons.append(f"entity: {names}")
    clash = (a.asserted & b.denied) | (b.asserted & a.denied)
    s.term_clash = len(clash)
    if clash:
        s.reasons.append(f"negation: one affirms, the other denies '{sorted(clash)[0]}'")
    s.content_jaccard = _jaccard(a.content, b.content)
    s.abstain_any = a.abstains or b.abstains
    s.hedge_mismatch = a.hedged != b.hedged
    s.absolute_mismatch = a.absolute != b.absolute
    s.length_gap = abs(math.log1p(a.n_words) - math.log1p(b.n_words))
    return s

"""Contradiction signals that embedding similarity misses.

Two answers can share almost every word and still contradict ("...pass through
the seeds" vs "...grow in your stomach"; "Yes, ..." vs "No, ..."; "in 1969" vs
"in 1972"). This module reads each answer once into an ``AnswerView`` (polarity,
negation, numbers, years, named entities, asserted and denied terms, with the
"it is a myth that X, but Y" form turned into "X denied, Y asserted") and compares
two views into ``PairSignals``. Numbers are read with their units (quantities.py), so
"100 °C" and "100 degrees Celsius" agree; reasons quote the answers as written.
Pure Python and regular expressions: fast, no model.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from drux.consensus.quantities import (
    UNIT_NAMES,
    Quantity,
    comparable,
    is_year,
    read_quantities,
    same_quantity,
)

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
# X is one clause: bounded, so an answer repeating "claim" thousands of times
# costs linear time, not quadratic.
CONTRAST = re.compile(
    r"\b(?:myth|misconception|stereotype|wives'? tale|legend|belief|rumou?r|claim|"
    r"popular culture[^,]{0,300}?(?:shows?|suggests?|claims?)|people (?:think|believe|say))\s+"
    r"(?:is\s+)?(?:that\s+)?(?P<denied>.{1,300}?)(?:,\s*|\s+)(?:but|however|in fact|actually)\b"
    r"(?P<asserted>.*)",
    re.I,
)
ABSTAIN = re.compile(
    r"^\W*(?:i have no comment|no comment|i (?:do not|don't) know|unknown|it depends|"
    r"i'?m not sure|i cannot (?:answer|say)|there is no (?:single|definitive|consensus))",
    re.I,
)
STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from as is are was were be
    been being am do does did doing have has had having it its it's this that these those there
    their they them he she his her him you your we our us i me my what which who whom whose when
    where why how will would shall should can could may might must also just only very really
    more most some any all each every other such into about over under after before up down out
    off again further once here both few own same too s t one ones because while during until
    against between through above below yes no not""".split()
)
# Certainty markers: "you will go blind" commits more than "you may struggle to read"
# even when the words overlap.
ABSOLUTES = frozenset("always will all every definitely certainly must only never everyone".split())
QUESTION_WORDS = STOPWORDS | {"happens", "happen", "called", "name", "real", "true", "actually"}


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def _numbers(text: str, exclude: set[str]) -> tuple[tuple[Quantity, ...], frozenset[int], set[str]]:
    """(quantities other than years, years, the unit words as written)."""
    found, spans = read_quantities(text, exclude)
    quantities = tuple(q for q in found if not is_year(q))
    years = frozenset(int(q.value) for q in found if is_year(q))
    unit_words = {m.group() for start, end in spans for m in WORD.finditer(text, start, end)}
    return quantities, years, unit_words


def _entity_key(low: str) -> str:
    return low.rstrip("'s").rstrip("’s") or low


def _entities(text: str, exclude: set[str], unit_words: set[str]) -> dict[str, str]:
    """Capitalised words that are not a sentence's first word (key -> the word as written).

    Units are never names: "Celsius", or the "C" of "100 °C".
    """
    found: dict[str, str] = {}

    def skip(tok: str, low: str) -> bool:
        return low in STOPWORDS or low in exclude or low in UNIT_NAMES or tok in unit_words

    for sentence in split_sentences(text):
        tokens = WORD.findall(sentence)
        for i, tok in enumerate(tokens):
            low = tok.lower()
            if i == 0 or not tok[0].isupper() or skip(tok, low):
                continue
            found.setdefault(_entity_key(low), tok)
        if tokens and tokens[0][0].isupper() and not skip(tokens[0], tokens[0].lower()):
            # A sentence-initial capital counts when the word is capitalised elsewhere too.
            if any(t == tokens[0] for t in WORD.findall(text)[1:]):
                found.setdefault(tokens[0].lower(), tokens[0])
    return found


COPULAS = frozenset({"is", "was", "are", "were"})


def _lower_words(text: str) -> set[str]:
    """The words ``text`` writes in lower case (so ordinary words, not names)."""
    return {w for w in WORD.findall(text) if w[0].islower()}


def _lead_names(text: str, exclude: set[str], unit_words: set[str],
                entities: dict[str, str]) -> dict[str, str]:
    """Sentence-initial capitalised words that may be names: the subject of "X is/was ..."
    ("Canberra is the capital"), not a stop word, a question term or a unit, and never written
    in lower case in the text. Whether one is a name or an ordinary word ("Water is wet") cannot
    be told from the answer alone, so ``compare`` reads them only against an answer that names
    something."""
    lowered = _lower_words(text)
    found: dict[str, str] = {}
    for sentence in split_sentences(text):
        tokens = WORD.findall(sentence)
        if len(tokens) < 2 or not tokens[0][0].isupper() or tokens[1].lower() not in COPULAS:
            continue
        tok, low = tokens[0], tokens[0].lower()
        key = _entity_key(low)
        if (low in STOPWORDS or low in exclude or low in UNIT_NAMES or tok in unit_words
                or low in lowered or key in entities or low in QUESTION_WORDS):
            continue
        found.setdefault(key, tok)
    return found


def _as_written(term: str, *texts: str) -> str:
    """The first word of the texts whose stem is ``term``, as written (the term if none)."""
    for text in texts:
        for tok in WORD.findall(text):
            if stem_word(tok.lower().replace("’", "'")) == term:
                return tok
    return term


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


@functools.lru_cache(maxsize=65536)  # pure, and called for every word of every claim
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
    absolute: bool = False
    quantities: tuple[Quantity, ...] = ()  # numbers with their units; ``numbers`` are their values
    names: dict[str, str] = field(default_factory=dict)  # entity key -> the name as written
    lead_names: dict[str, str] = field(default_factory=dict)  # sentence-initial, maybe names

    @property
    def echoes_question(self) -> bool:
        """Says nothing beyond the question's own words (no new term, number or yes/no)."""
        return not (self.content or self.numbers or self.years or self.polarity)


LETTER_RUN = re.compile(r"[^\W\d_]+")


def unread_words(text: str, question: str) -> bool:
    """Whether ``text`` has words the term reader skips (Cyrillic, Arabic, CJK, ...)
    that the question does not contain: an answer in another script says something
    even when it has no Latin ``content``."""
    asked = question.casefold()
    return any(not run.isascii() and run.casefold() not in asked for run in LETTER_RUN.findall(text))


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
    quantities, years, unit_words = _numbers(text, exclude)
    names = _entities(text, exclude, unit_words)
    lead_names = _lead_names(text, exclude, unit_words, names)
    content = frozenset(stem_word(t) for t in tokens
                        if t not in STOPWORDS and t not in exclude and len(t) >= 3)
    return AnswerView(
        text=text, polarity=polarity, negated=negated or polarity == "no",
        abstains=bool(ABSTAIN.match(text)), numbers=frozenset(q.value for q in quantities),
        years=years, entities=frozenset(names), content=content, asserted=asserted, denied=denied,
        contrastive=contrast is not None, absolute=any(t in ABSOLUTES for t in tokens),
        quantities=quantities, names=names, lead_names=lead_names,
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
    absolute_mismatch: bool = False
    # Word for word the same answer but for one name or number: one fact swapped.
    swapped: bool = False
    reasons: list[str] = field(default_factory=list)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def _fmt(values: frozenset[int]) -> str:
    return ", ".join(str(v) for v in sorted(values)[:3])


def _shown(quantities: tuple[Quantity, ...], with_unit: bool) -> str:
    return ", ".join(list(dict.fromkeys(q.shown(with_unit) for q in quantities))[:3])


def _compare_numbers(a: AnswerView, b: AnswerView, s: PairSignals) -> None:
    """Numbers clash when some can be compared (same kind of unit, or a bare number) and none agree."""
    pairs = [(x, y) for x in a.quantities for y in b.quantities if comparable(x, y)]
    if not pairs:
        return
    s.number_match = any(same_quantity(x, y) for x, y in pairs)
    s.number_clash = not s.number_match
    if s.number_clash:
        # Units are shown only when the two answers state different ones ("5 km vs 5 miles").
        units_a = {q.unit.key for q in a.quantities if q.unit}
        with_unit = units_a != {q.unit.key for q in b.quantities if q.unit}
        s.reasons.append(f"number: {_shown(a.quantities, with_unit)} vs {_shown(b.quantities, with_unit)}")


def _pair_entities(a: AnswerView, b: AnswerView) -> tuple[frozenset[str], frozenset[str]]:
    """The names each answer states, for comparing the two: an answer that names nothing
    mid-sentence is read for its sentence-initial names when the other names something
    ("Canberra is the capital" against "The capital is Sydney"), unless the other writes that
    word in lower case (an ordinary word: "Heat is ..." against "... the heat ...")."""
    ea, eb = a.entities, b.entities
    if ea and not eb:
        eb = _leads(b, a)
    elif eb and not ea:
        ea = _leads(a, b)
    return ea, eb


SWAP_SPAN = 3  # most words a swapped name may have ("Richard Marquand")


def _fact_swap(a: str, b: str) -> tuple[str, str] | None:
    """What was swapped when the answers are word for word the same but for one name or one
    number ("Sydney is the capital." against "Canberra is the capital.", "200 years" against
    "199 years"): the two as written, or None."""
    wa, wb = WORD.findall(a), WORD.findall(b)
    head = 0
    while head < min(len(wa), len(wb)) and wa[head].lower() == wb[head].lower():
        head += 1
    tail = 0
    while (tail < min(len(wa), len(wb)) - head
           and wa[-1 - tail].lower() == wb[-1 - tail].lower()):
        tail += 1
    xs, ys = wa[head:len(wa) - tail], wb[head:len(wb) - tail]
    if not xs or not ys or len(xs) > SWAP_SPAN or len(ys) > SWAP_SPAN or head + tail == 0:
        return None
    def numbers(span: list[str]) -> bool:
        return len(span) == 1 and span[0][0].isdigit()

    def names(span: list[str]) -> bool:
        return all(w[0].isupper() and w.lower() not in STOPWORDS for w in span)

    if (numbers(xs) and numbers(ys)) or (names(xs) and names(ys)):
        return " ".join(xs), " ".join(ys)
    return None


def _leads(view: AnswerView, other: AnswerView) -> frozenset[str]:
    if not view.lead_names:
        return frozenset()
    lowered = _lower_words(other.text)
    return frozenset(k for k, tok in view.lead_names.items() if tok.lower() not in lowered)


def _names(view: AnswerView, keys: frozenset[str] | None = None) -> str:
    """The first two names, in the answer's order and spelling ("San Francisco", "Paris, Rome")."""
    used = view.entities if keys is None or view.entities else keys
    written = view.names if used is view.entities else {
        k: v for k, v in view.lead_names.items() if k in used}
    shown = list(written.values())[:2] or sorted(used)[:2]
    joined = " ".join(shown)
    return joined if len(shown) == 2 and joined in view.text else ", ".join(shown)


def compare(a: AnswerView, b: AnswerView) -> PairSignals:
    s = PairSignals()
    if a.polarity and b.polarity:
        s.polarity_clash = a.polarity != b.polarity
        s.polarity_same = not s.polarity_clash
        if s.polarity_clash:
            s.reasons.append(f"polarity: {a.polarity} vs {b.polarity}")
    s.negation_mismatch = a.negated != b.negated
    s.both_negated = a.negated and b.negated
    _compare_numbers(a, b, s)
    if a.years and b.years:
        s.year_match = bool(a.years & b.years)
        s.year_clash = not s.year_match
        if s.year_clash:
            s.reasons.append(f"date: {_fmt(a.years)} vs {_fmt(b.years)}")
    ea, eb = _pair_entities(a, b)
    if ea and eb:
        s.entity_overlap = _jaccard(ea, eb)
        s.entity_clash = s.entity_overlap == 0.0
        if s.entity_clash:
            s.reasons.append(f"entity: {_names(a, ea)} vs {_names(b, eb)}")
    swap = _fact_swap(a.text, b.text)
    if swap:
        s.swapped = True
        if not (s.entity_clash or s.number_clash or s.year_clash):
            s.entity_clash = not swap[0][0].isdigit()
            kind = "entity" if s.entity_clash else "number"
            s.reasons.append(f"{kind}: {swap[0]} vs {swap[1]}")
    # Answers that affirm and deny the very same terms ("not digested ... digested
    # partly", twice) only qualify themselves alike: nothing clashes between them.
    same_terms = a.asserted == b.asserted and a.denied == b.denied
    clash = frozenset() if same_terms else (a.asserted & b.denied) | (b.asserted & a.denied)
    s.term_clash = len(clash)
    if clash:
        term = sorted(clash)[0]
        s.reasons.append(f"negation: one affirms, the other denies '{_as_written(term, a.text, b.text)}'")
    s.content_jaccard = _jaccard(a.content, b.content)
    s.abstain_any = a.abstains or b.abstains
    s.absolute_mismatch = a.absolute != b.absolute
    return s

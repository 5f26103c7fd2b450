"""Statement rules: when two answers are the same statement, and when one denies the other.

Both hold whatever a model says, so every agreement backend applies them around its model:

- **The same statement** (``same_statement``): the same words once case, punctuation,
  spacing and the speaker's hedges are set aside ("Paris." and "I think it's paris"), or
  the same two clauses in the other order ("If X, Y" and "Y if X").
- **The opposite statement** (``opposite_statement``): the same words but for one
  negation ("X is Y" / "X is not Y", "never" / "sometimes", "It is not true that X" / "X"),
  or the opposite yes/no in front of the same or the negated statement ("Yes, X" / "No,
  not X"). Two negations cancel: "not never" is not flagged.

The hedges are a fixed list plus one rule: a short lead-in that ends in a comma or colon
and speaks of the speaker ("If I remember correctly,", "My answer:", "As I see it,").
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORDS = re.compile(r"-(?=\d)|\w+")
# How sure the speaker is, not what is said: "I think it is Paris" states "it is Paris". Only
# in front of the statement or after it, never "I don't think" (a negation).
_HEDGE = (r"(?:i\s+(?:think|believe|guess|suppose|reckon|would\s+say)|i'?d\s+say|"
          r"i'?m\s+(?:fairly|pretty|quite)?\s*(?:sure|certain|confident)|probably|perhaps|maybe|"
          r"possibly|likely|most\s+likely|it\s+seems|apparently|honestly|frankly|to\s+be\s+honest|"
          r"as\s+far\s+as\s+i\s+(?:know|can\s+tell)|in\s+my\s+(?:opinion|view)|to\s+my\s+knowledge|"
          r"if\s+i\s+(?:remember|recall)\s+(?:correctly|rightly)|my\s+answer(?:\s+is)?:?)")
_LEADING_HEDGE = re.compile(rf"^\W*{_HEDGE}(?:\s+that)?\b[\s,:]*", re.I)
_TRAILING_HEDGE = re.compile(rf"[\s,;(]+{_HEDGE}\W*$", re.I)
# A lead-in of up to five words ending in "," or ":" that speaks of the speaker and neither
# denies nor doubts: "As I see it,", "From what I know,". Not a clause that sets a condition
# or a time ("When I was young, ..."): those change what is said.
_STANCE_LEAD = re.compile(r"^\W*((?:[\w']+\s+){0,4}[\w']+)\s*[,:]\s+(?=\S)", re.I)
_SPEAKER = frozenset({"i", "i'm", "im", "i'd", "id", "i've", "ive", "my", "me"})
# ... and of knowing, remembering or saying: "I'm an animal, I'm an AI" has no lead-in.
_STANCE = frozenset({"see", "know", "knew", "recall", "remember", "understand", "told", "say",
                     "said", "believe", "think", "opinion", "view", "knowledge", "experience",
                     "answer", "guess", "take", "reading", "memory", "gather", "heard", "aware"})
_NOT_STANCE = frozenset({"not", "no", "never", "don't", "doubt", "wrong", "false", "disagree",
                         "deny", "if", "when", "while", "because", "since", "unless", "although",
                         "after", "before", "until", "once", "where", "whereas"})


def unhedged(text: str) -> str:
    """``text`` without the hedges in front of it or after it ("I think", "probably", ...)."""
    previous = None
    text = text.replace("\u2019", "'")  # models often write "I’d say"
    while previous != text:
        previous = text
        text = _LEADING_HEDGE.sub("", text, count=1)
        # A trailing hedge ends the text: look only at its end (long answers are long).
        trailing = _TRAILING_HEDGE.search(text, max(0, len(text) - 80))
        if trailing:
            text = text[:trailing.start()]
        lead = _STANCE_LEAD.match(text)
        if lead:
            words = lead.group(1).casefold().split()
            if (_SPEAKER.intersection(words) and _STANCE.intersection(words)
                    and not _NOT_STANCE.intersection(words)):
                text = text[lead.end():]
    return text


# "If X, Y" and "Y if X" say the same: a subordinate clause and its main clause.
_CONJ = r"because|since|as\s+long\s+as|if|when|whenever|unless|although|though|while|once"
_LEADING_CLAUSE = re.compile(rf"^\W*({_CONJ})\s+([^,;]+?)\s*(?:[,;]|\s[-\u2013\u2014])\s*(.+)$",
                             re.I | re.S)
_TRAILING_CLAUSE = re.compile(rf"^(.+?)\s*,?\s+({_CONJ})\s+(.+)$", re.I | re.S)


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORDS.findall(text.casefold().replace("\u2212", "-")))


def _said(text: str) -> tuple[str, ...]:
    return _words(unhedged(text)) or _words(text)  # "Maybe." is the answer, not a hedge


@lru_cache(maxsize=4096)
def _forms(text: str) -> frozenset[tuple[str, ...]]:
    """The statement's words, and where it is a subordinate clause with its main clause, the
    clauses in a fixed order (conjunction, subordinate, main), each unhedged."""
    bare = unhedged(text)
    said = _words(bare) or _words(text)  # as _said(text), without unhedging it twice
    if not said:
        return frozenset()
    forms = {said}
    for body in {text.strip(), bare.strip()}:  # "Probably not, because ..."
        for pattern, conj, sub, main in ((_LEADING_CLAUSE, 1, 2, 3), (_TRAILING_CLAUSE, 2, 3, 1)):
            m = pattern.match(body)
            if m and len(_words(m.group(main))) >= 2 and len(_words(m.group(sub))) >= 2:
                forms.add(("\x00", *_words(m.group(conj)), "\x00", *_said(m.group(sub)), "\x00",
                           *_said(m.group(main))))
    return frozenset(forms)


def same_statement(a: str, b: str) -> bool:
    """The same words once case, punctuation, spacing and hedges are set aside ("Paris." and
    "I think it's paris"), or the same clauses in the other order; a minus sign before a
    number counts ("-89" is not "89")."""
    return bool(_forms(a) & _forms(b))


# ------------------------------------------------------------------ the opposite statement
_CONTRACTIONS = ((re.compile(r"\bcan['\u2019]?t\b|\bcannot\b", re.I), "can not"),
                 (re.compile(r"\bwon['\u2019]t\b", re.I), "will not"),
                 (re.compile(r"\bshan['\u2019]t\b", re.I), "shall not"),
                 (re.compile(r"\b(\w+)n['\u2019]t\b", re.I), r"\1 not"))
_DENIALS = (("it", "is", "not", "true", "that"), ("it", "is", "false", "that"),
            ("it", "is", "not", "the", "case", "that"), ("it", "s", "not", "true", "that"))
# One word in place of its opposite: "never happens" / "sometimes happens".
_OPPOSITES = {frozenset(p) for p in (("never", "sometimes"), ("never", "always"),
                                     ("nothing", "something"), ("nobody", "somebody"),
                                     ("noone", "someone"), ("nobody", "someone"), ("noone", "somebody"),
                                     ("none", "some"), ("no", "some"), ("nowhere", "somewhere"))}
OPPOSITE_REASON = "negation: one answer says the opposite of the other"
_NEGATORS = frozenset({"not", "no", "never"})
_DO = frozenset({"do", "does", "did"})
# Every word one of the rules below turns on: a pair in which neither answer has one is no
# negation of the other.
_TURNING = _NEGATORS | {w for pair in _OPPOSITES for w in pair} | {"false"}
_POLAR = re.compile(r"^\W*(yes|no)\b(?:\s*[,.!;:\u2014-]+\s*|\s*$)", re.I)


def _negation_words(text: str) -> tuple[str, ...]:  # cached by its one caller, _reading
    if "'" in text or "\u2019" in text or "annot" in text or "ANNOT" in text:  # most have none
        for pattern, repl in _CONTRACTIONS:
            text = pattern.sub(repl, text)
    words = _said(text)
    out: list[str] = []
    for w in words:  # "no one" and "some one" are one word each
        if w == "one" and out and out[-1] in ("no", "some"):
            out[-1] += "one"
        else:
            out.append(w)
    return tuple(out)


def _one_negation(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """``a`` and ``b`` are the same words but for one negation."""
    if not a or not b or a == b or abs(len(a) - len(b)) > 6:
        return False
    for denial in _DENIALS:  # "It is not true that X" / "X"
        n = len(denial)
        if (a[:n] == denial and a[n:] == b) or (b[:n] == denial and b[n:] == a):
            return True
    # The words that differ: what is left between the common start and the common end.
    start = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    wa, wb = a[start:len(a) - end], b[start:len(b) - end]
    if len(wa) == 1 and len(wb) == 1 and frozenset((wa[0], wb[0])) in _OPPOSITES:
        return True  # "never happens" / "sometimes happens"
    if len(wa) > 3 or len(wb) > 3 or sum(w in _NEGATORS for w in wa + wb) != 1:
        return False
    # Set the negation and "do" aside: "is visible" / "is not visible", "causes" / "does not
    # cause", "never strikes" / "does strike".
    ra = [w for w in wa if w not in _NEGATORS and w not in _DO]
    rb = [w for w in wb if w not in _NEGATORS and w not in _DO]
    return len(ra) == len(rb) and all(_same_verb(x, y) for x, y in zip(ra, rb, strict=True))


def _same_verb(x: str, y: str) -> bool:
    """The same word, or a verb and its "-s"/"-es"/"-d"/"-ed" form ("cause" / "causes")."""
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    return short == long_ or (len(short) >= 2 and long_ in {short + e for e in ("s", "es", "d", "ed")})


@lru_cache(maxsize=4096)
def _reading(text: str) -> tuple[str | None, tuple[str, ...], bool]:
    """A leading yes or no, the words after it, and whether they hold a word a negation could
    turn on (most claims hold none, and then no pair with them needs a closer look)."""
    polar = _POLAR.match(text)
    words = _negation_words(text[polar.end():] if polar else text)
    turns = any(w in _TURNING for w in words)
    return (polar.group(1).casefold() if polar else None), words, turns


def opposite_statement(a: str, b: str) -> bool:
    """One answer states what the other denies: the same words but for one negation, or the
    opposite yes/no before the same statement or its negation. A yes or no that only one
    answer has is set aside ("No, it is not." says what "It is not." says)."""
    pa, wa, turns_a = _reading(a)
    pb, wb, turns_b = _reading(b)
    if pa and pb and pa != pb:
        if not wa and not wb:
            return True  # "Yes." / "No."
        return bool(wa) and (wa == wb or _one_negation(wa, wb))
    return (turns_a or turns_b) and _one_negation(wa, wb)

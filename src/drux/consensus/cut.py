"""Answers cut by the token limit (finish reason "length") are judged on what they say.

Two things keep a cut answer's missing end from reading as disagreement:

- its last sentence, when the limit stopped it half-way (no closing punctuation), is
  left out of the judging (unless it is all the answer said): "...are red, blue, and"
  states no list, and a number cut in two is no clash;
- with the cross-encoder and fast backends, the pair of a cut answer and a complete one is judged on the
  complete answer's opening, about as long as the cut one: what the cut answer never
  reached is not counted as something it failed to say.

The claim map does its part (``claims.py``): a claim a cut answer is silent on is
"not reached" by it, not unique.
"""

from __future__ import annotations

import re
from itertools import combinations

from drux.consensus.backends import AgreementBackend, PairJudgment
from drux.consensus.signals import split_sentences

CLOSED = re.compile(r"[.!?;:)\]\"'”’*`]\s*$")


def said_text(text: str) -> str:
    """A cut answer without its unfinished last sentence (the whole text if that is all)."""
    sentences = split_sentences(text)
    if len(sentences) < 2 or CLOSED.search(sentences[-1]):
        return text
    return " ".join(sentences[:-1])


def opening(text: str, words: int) -> str:
    """The first sentences of ``text`` holding at least ``words`` words (all of it if shorter)."""
    kept: list[str] = []
    count = 0
    for sentence in split_sentences(text):
        if count >= words:
            break
        kept.append(sentence)
        count += len(sentence.split())
    return " ".join(kept) if kept else text


def judge_cut_pairs(backend: AgreementBackend, question: str, texts: list[str],
                    cut: list[bool]) -> dict[tuple[int, int], PairJudgment]:
    """Each pair of one cut and one complete answer, judged on the complete one's opening."""
    out: dict[tuple[int, int], PairJudgment] = {}
    for i, j in combinations(range(len(texts)), 2):
        if cut[i] == cut[j]:
            continue
        short, full = (i, j) if cut[i] else (j, i)
        head = opening(texts[full], len(texts[short].split()))
        if head == texts[full]:
            continue
        pair = [texts[i], head] if short == i else [head, texts[j]]
        out[(i, j)] = backend.judge_pairs(question, pair)[(0, 1)]
    return out

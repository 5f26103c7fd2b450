"""Agreement backends: how sure are we that two answers to a question agree?

A backend turns (question, answers) into a ``PairJudgment`` for every pair. The
rest of the engine (clusters, score, claims) only sees judgments, so backends are
interchangeable:

- ``FastBackend`` (offline, milliseconds, the default): MiniLM embeddings plus
  contradiction signals, combined by a logistic regression fitted on the dev split.
- ``CrossBackend`` (offline, ``--backend cross``): the agreement cross-encoder
  (``crossenc.py``), MiniLM fine-tuned to read the question and both answers together;
  the fast backend's contradiction signals name what clashes and cap a clashing pair.
- ``JudgeBackend``: an LLM (a ``TextJudge``: any ``Provider``, e.g. the offline
  Qwen2.5-1.5B) asked whether both answers can be true at once, constrained to a
  one-word reply and parsed strictly; unparseable replies count as "unrelated"
  (agreement 0.5).

Judgments are cached by a content hash of (backend, question, pair); the fast
backend keeps the pair in order, as its reasons quote "a vs b".
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Protocol, runtime_checkable

import numpy as np

from drux.consensus.crossenc import AgreementModel, shared_cross_encoder
from drux.consensus.embeddings import Embedder, shared_embedder
from drux.consensus.features import PairModel, load_pair_model, pair_features
from drux.consensus.signals import AnswerView, compare, question_terms, read_answer, unread_words
from drux.consensus.statements import OPPOSITE_REASON, opposite_statement, same_statement
from drux.types import ChatRequest, Completion

Relation = str  # "agree" | "contradict" | "unrelated"
NEAR_DUPLICATE = 0.95  # cosine above which two clash-free answers say the same thing
CROSS_WEIGHT = 0.5  # the cross-encoders' share of a pair's log-odds (the fast backend's the rest)
ECHO_CAP = 0.5  # most agreement an answer that only echoes the question can show
OPPOSITE_CAP = 0.02  # most agreement of a statement with its own negation ("X is not Y")
NO_RESIDUAL = 1e-3  # norm of an answer vector minus its question part that is only noise


@dataclass(slots=True)
class PairJudgment:
    agreement: float  # P(both answers can be true together), 0..1
    relation: Relation
    reasons: list[str] = field(default_factory=list)


@runtime_checkable
class AgreementBackend(Protocol):
    name: str

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        """A judgment for every pair (i, j) with i < j."""
        ...


class JudgmentCache:
    """Small thread-safe LRU keyed by a content hash of the pair (order-free unless asked)."""

    def __init__(self, size: int = 8192) -> None:
        self._data: OrderedDict[str, PairJudgment] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(backend: str, question: str, a: str, b: str, *, ordered: bool = False) -> str:
        """``ordered`` for judgments whose reasons read "a's words vs b's words"."""
        first, second = (a, b) if ordered else sorted((a, b))
        raw = "\x1f".join((backend, question.strip(), first.strip(), second.strip()))
        return hashlib.blake2b(raw.encode("utf-8"), digest_size=16).hexdigest()

    def get(self, key: str) -> PairJudgment | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: str, value: PairJudgment) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


def each_pair(judge_pair: Callable[[str, str, str], PairJudgment], question: str,
              answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
    """Judge every unordered pair of answers, one call per pair (judges that see one pair
    at a time share this)."""
    return {
        (i, j): judge_pair(question, answers[i], answers[j])
        for i, j in combinations(range(len(answers)), 2)
    }


def _relation(agreement: float, reasons: list[str]) -> Relation:
    if agreement >= 0.5:
        return "agree"
    return "contradict" if reasons or agreement < 0.3 else "unrelated"


class FastBackend:
    """Embeddings + contradiction signals + the dev-trained pair model."""

    name = "fast"

    def __init__(self, embedder: Embedder | None = None, model: PairModel | None = None) -> None:
        self._embedder = embedder
        self._model = model
        self._cache = JudgmentCache()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder

    @property
    def model(self) -> PairModel:
        if self._model is None:
            self._model = load_pair_model()
        return self._model

    def _vectors(self, question: str, answers: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Answer-answer cosines, the same with the question's direction removed, answer-question cosines."""
        vectors = self.embedder.encode([question, *answers])
        q, a = vectors[0], vectors[1:]
        relevance = a @ q
        # Remove the question's direction: answers that echo the question look alike.
        resid = a - np.outer(relevance, q)
        norms = np.linalg.norm(resid, axis=1, keepdims=True)
        # An answer that restates the question has no direction of its own: what is
        # left is float noise, which scaled to unit length would be a random vector.
        resid = np.where(norms > NO_RESIDUAL, resid / np.clip(norms, 1e-9, None), 0.0)
        return a @ a.T, resid @ resid.T, relevance

    def features(self, question: str, a: str, b: str) -> list[float]:
        """The model's feature vector for one pair (used by the training script)."""
        sims, resid, relevance = self._vectors(question, [a, b])
        terms = question_terms(question)
        signals = compare(read_answer(a, q_terms=terms), read_answer(b, q_terms=terms))
        rel = (float(relevance[0]), float(relevance[1]))
        return pair_features(float(sims[0, 1]), float(resid[0, 1]), signals, rel)

    def views(self, question: str, answers: list[str]) -> list[AnswerView]:
        terms = question_terms(question)
        return [read_answer(a, q_terms=terms) for a in answers]

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        out: dict[tuple[int, int], PairJudgment] = {}
        todo: list[tuple[int, int, str]] = []
        for i, j in combinations(range(len(answers)), 2):
            key = JudgmentCache.key(self.name, question, answers[i], answers[j], ordered=True)
            hit = self._cache.get(key)
            if hit is not None:
                out[(i, j)] = hit
            else:
                todo.append((i, j, key))
        if not todo:
            return out
        sims, resid, relevance = self._vectors(question, answers)
        views = self.views(question, answers)
        for i, j, key in todo:
            signals = compare(views[i], views[j])
            rel = (float(relevance[i]), float(relevance[j]))
            x = pair_features(float(sims[i, j]), float(resid[i, j]), signals, rel)
            p = self.model.probability(x)
            if not signals.reasons and sims[i, j] >= NEAR_DUPLICATE:
                # Paraphrases this close are agreement whatever the fit says: the
                # benchmark it learned from has no near-duplicate answers. A float32
                # cosine of identical texts can exceed 1 by a rounding error.
                p = max(p, min(1.0, float(sims[i, j])))
            same = same_statement(answers[i], answers[j])
            reasons = signals.reasons
            if same:
                p = 1.0  # the same words up to case, punctuation and spacing: the same statement
            elif opposite_statement(answers[i], answers[j]):
                # The same words but for one negation: whatever the fit says, one denies the other.
                p = min(p, OPPOSITE_CAP)
                reasons = reasons or [OPPOSITE_REASON]
            if _echo_only(question, answers, views, i, j, same):
                p = min(p, ECHO_CAP)
            judgment = PairJudgment(p, _relation(p, reasons), reasons)
            self._cache.put(key, judgment)
            out[(i, j)] = judgment
        return out


class CrossBackend:
    """The agreement cross-encoders' probability for each pair, blended with the fast
    backend's: ``cross_weight`` of the log-odds are the models' (the mean of two
    cross-encoders, ``crossenc.CrossEnsemble``), the rest the fast backend's. Rules sit around
    it: the statement rules (``statements.py``: the same statement agrees outright, a
    statement against its own negation is a contradiction), and a clash the fast backend's
    reader finds (another number, date or name, yes against no) caps the pair at the fast
    backend's probability. The fast backend also gives the reasons a contradiction is listed
    with, the echoes of the question, and the embedder for the claim map.

    Half and half ranked the held-back questions' answer sets and pairs better than either
    part alone (bench/RESULTS.md). It once let a third of the generated negations read as
    agreeing; the statement rules now hold those whatever the blend says.
    """

    name = "cross"

    def __init__(self, fast: FastBackend | None = None, model: AgreementModel | None = None,
                 cross_weight: float = CROSS_WEIGHT) -> None:
        self.fast = fast or FastBackend()
        self._model = model
        self._cache = JudgmentCache()
        self.cross_weight = cross_weight

    @property
    def model(self) -> AgreementModel:
        if self._model is None:
            self._model = shared_cross_encoder()
        return self._model

    @property
    def embedder(self) -> Embedder:
        return self.fast.embedder

    def probabilities(self, question: str, answers: list[str]) -> dict[tuple[int, int], float]:
        """The model's P(agree) for every pair, cached by the unordered pair (it is the mean of
        both orders, so the order the answers come in changes nothing)."""
        out: dict[tuple[int, int], float] = {}
        todo: dict[tuple[int, int], str] = {}
        for i, j in combinations(range(len(answers)), 2):
            if same_statement(answers[i], answers[j]):
                # The same words (up to case, punctuation and spacing) are the same statement:
                # the model is not asked (it was trained on answers that differ).
                out[(i, j)] = 1.0
                continue
            key = JudgmentCache.key(self.name, question, answers[i], answers[j])
            hit = self._cache.get(key)
            if hit is not None:
                out[(i, j)] = hit.agreement
            else:
                todo[(i, j)] = key
        ps = self.model.agreement(question, [(answers[i], answers[j]) for i, j in todo])
        for (pair, key), p in zip(todo.items(), ps, strict=True):
            self._cache.put(key, PairJudgment(p, "agree" if p >= 0.5 else "contradict"))
            out[pair] = p
        return out

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        probs = self.probabilities(question, answers)
        quick = self.fast.judge_pairs(question, answers)
        views = self.fast.views(question, answers)
        out: dict[tuple[int, int], PairJudgment] = {}
        w = self.cross_weight
        for (i, j), p in probs.items():
            fast = quick[(i, j)]
            same = same_statement(answers[i], answers[j])
            if not same:
                p = _sigmoid(w * _logit(p) + (1.0 - w) * _logit(fast.agreement))
            if fast.reasons:
                # A clash the reader found (another number, date or name, yes against no) is
                # what the cross-encoder reads worst: it learned from answers that differ in
                # whole claims, and scores "Canberra" against "Sydney" as agreeing.
                p = min(p, fast.agreement)
            if _echo_only(question, answers, views, i, j, same):
                p = min(p, ECHO_CAP)
            out[(i, j)] = PairJudgment(p, _relation(p, fast.reasons), list(fast.reasons))
        return out


def _echo_only(question: str, answers: list[str], views: list[AnswerView], i: int, j: int,
               same: bool) -> bool:
    """Whether the pair's agreement is held at ``ECHO_CAP``: repeating the question back is
    not evidence of agreement; two answers that say the same thing still agree, unless what
    they say is the question itself."""
    return ((views[i].echoes_question or views[j].echoes_question)
            and not _same_unread(question, answers[i], answers[j])
            and not (same and not same_statement(answers[i], question)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _same_unread(question: str, a: str, b: str) -> bool:
    """The same answer in a script the term reader cannot split (CJK, Cyrillic, ...):
    it is no echo of the question. Different ones stay capped: MiniLM reads most of
    those scripts as unknown tokens, so "巴黎" and "伦敦" look alike to it."""
    return a.strip() == b.strip() and unread_words(a, question)


# A pair judge: (question, answer_a, answer_b) -> the model's raw one-word reply.
PairJudge = Callable[[str, str, str], str]


@runtime_checkable
class TextJudge(Protocol):
    """A model that judges in words: asked ``JUDGE_PROMPT``, it replies yes, no or
    unrelated (any ``Provider`` is one; the engine awaits it on the caller's loop)."""

    @property
    def name(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...


# What the judge and hybrid backends accept as their judge: a ready backend (a graded
# ``LogprobJudge``, a ``JudgeBackend``), a text judge model, or a pair-judge function.
Judge = AgreementBackend | TextJudge | PairJudge

JUDGE_PROMPT = (
    "Question: {question}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\n"
    "Could both answers be true at the same time? "
    "Reply with exactly one word: yes, no, or unrelated."
)


def parse_verdict(reply: str) -> tuple[float, Relation]:
    """Strict parse of the judge's reply; anything else is 'unrelated' (0.5)."""
    word = reply.strip().split(maxsplit=1)[0].strip(".,!:;\"'*").lower() if reply.strip() else ""
    if word == "yes":
        return 1.0, "agree"
    if word == "no":
        return 0.0, "contradict"
    return 0.5, "unrelated"


class JudgeBackend:
    """An LLM judge, asked once per unordered pair; replies cached by content hash."""

    name = "judge"

    def __init__(self, judge: PairJudge, *, both_orders: bool = False,
                 cache: JudgmentCache | None = None) -> None:
        self._judge = judge
        self._both_orders = both_orders
        self._cache = cache or JudgmentCache()

    def judge_pair(self, question: str, a: str, b: str) -> PairJudgment:
        key = JudgmentCache.key(self.name, question, a, b)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        orders = [(a, b), (b, a)] if self._both_orders else [tuple(sorted((a, b)))]
        verdicts = [parse_verdict(self._judge(question, x, y)) for x, y in orders]
        agreement = sum(v[0] for v in verdicts) / len(verdicts)
        relations = {v[1] for v in verdicts}
        relation = relations.pop() if len(relations) == 1 else _relation(agreement, [])
        reasons = ["judge: answers cannot both be true"] if relation == "contradict" else []
        judgment = PairJudgment(agreement, relation, reasons)
        self._cache.put(key, judgment)
        return judgment

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        return each_pair(self.judge_pair, question, answers)


class HybridBackend:
    """The fast backend's probability averaged with an LLM judge's verdict.

    The judge reads meaning (which the fast backend only guesses at); the fast
    backend grades confidence and catches numbers, dates and yes/no clashes.
    """

    name = "hybrid"

    def __init__(self, fast: FastBackend, judge: AgreementBackend, judge_weight: float = 0.5) -> None:
        self.fast = fast
        self.judge = judge
        self.judge_weight = judge_weight

    @property
    def embedder(self) -> Embedder:
        return self.fast.embedder

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        quick = self.fast.judge_pairs(question, answers)
        slow = self.judge.judge_pairs(question, answers)
        out = {}
        w = self.judge_weight
        for pair, f in quick.items():
            j = slow[pair]
            p = (1 - w) * f.agreement + w * j.agreement
            reasons = list(f.reasons) + (j.reasons if j.relation == "contradict" else [])
            out[pair] = PairJudgment(p, _relation(p, reasons), reasons)
        return out

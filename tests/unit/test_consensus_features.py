import numpy as np
import pytest

from drux.consensus.backends import FastBackend
from drux.consensus.features import FEATURES, pair_features
from drux.consensus.signals import PairSignals


def _named(x: list[float]) -> dict[str, float]:
    assert len(x) == len(FEATURES)
    return dict(zip(FEATURES, x, strict=True))


def test_question_relevance_and_interactions():
    f = _named(pair_features(0.8, 0.5, PairSignals(polarity_clash=True), (0.7, 0.2)))
    assert f["question_relevance_min"] == pytest.approx(0.2)
    assert f["question_relevance_gap"] == pytest.approx(0.5)
    assert f["residual_x_polarity_clash"] == pytest.approx(0.5)
    assert f["residual_x_negation_mismatch"] == 0.0
    assert f["residual_squared"] == pytest.approx(0.25)
    assert f["cosine_x_residual"] == pytest.approx(0.4)


def test_swapping_the_answers_leaves_the_features_unchanged():
    s = PairSignals(negation_mismatch=True)
    assert pair_features(0.6, 0.3, s, (0.9, 0.1)) == pair_features(0.6, 0.3, s, (0.1, 0.9))


class _TableEmbedder:
    """Unit vectors looked up by text, so cosines are known exactly."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self._table = {k: np.array(v) / np.linalg.norm(v) for k, v in table.items()}

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._table[t] for t in texts])


def test_fast_backend_feeds_each_answers_cosine_to_the_question():
    q, a, b = "Why is the sky blue?", "Rayleigh scattering.", "Because of the ocean."
    emb = _TableEmbedder({q: [1, 0, 0], a: [0.6, 0.8, 0], b: [0, 0.6, 0.8]})
    backend = FastBackend(embedder=emb)  # type: ignore[arg-type]
    f = _named(backend.features(q, a, b))
    assert f["question_relevance_min"] == pytest.approx(0.0)
    assert f["question_relevance_gap"] == pytest.approx(0.6)
    assert f["cosine"] == pytest.approx(0.48)
    assert backend.features(q, b, a) == pytest.approx(backend.features(q, a, b))

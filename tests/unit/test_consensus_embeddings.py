import numpy as np
import pytest

from drux.consensus import embeddings
from drux.consensus.embeddings import Embedder
from drux.consensus.features import FEATURES, load_pair_model
from drux.errors import WeightsError


@pytest.fixture(scope="module")
def embedder():
    return Embedder(cache_size=8)


def test_vectors_are_unit_length_and_meaningful(embedder):
    v = embedder.encode(["A cat sits on the mat.", "A kitten is sitting on a rug.",
                         "Interest rates rose by half a percent."])
    assert v.shape == (3, embeddings.DIM)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    sims = v @ v.T
    assert sims[0, 1] > 0.5 > sims[0, 2]


def test_batching_and_cache_give_the_same_vectors(embedder):
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(12)]
    once = embedder.encode(texts)
    again = embedder.encode(list(reversed(texts)))[::-1]
    assert np.allclose(once, again, atol=1e-5)
    assert len(embedder._cache) <= 12  # bounded: never more than the batch or cache_size


def test_empty_input(embedder):
    assert embedder.encode([]).shape == (0, embeddings.DIM)


def test_a_model_file_with_the_wrong_hash_is_refused(monkeypatch):
    monkeypatch.setattr(embeddings, "MODEL_SHA256", "0" * 64)
    with pytest.raises(WeightsError, match="refusing to load"):
        Embedder().encode(["x"])


def test_shipped_pair_model_matches_the_features():
    model = load_pair_model()
    assert model.features == FEATURES and len(model.weights) == len(FEATURES)
    assert "dev" in model.trained_on


def test_two_threads_give_the_same_vectors_as_one():
    from drux.consensus.embeddings import default_threads

    texts = ["Water boils at 100 degrees Celsius at sea level.", "Paris.",
             "The capital of Australia is Canberra, not Sydney, since 1913."]
    one, two = Embedder(threads=1).encode(texts), Embedder(threads=2).encode(texts)
    assert np.array_equal(one, two)
    assert 1 <= default_threads() <= 2

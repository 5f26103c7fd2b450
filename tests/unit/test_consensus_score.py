import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drux.consensus import clustering, score


def matrix(values: dict[tuple[int, int], float], k: int) -> np.ndarray:
    m = np.eye(k)
    for (i, j), v in values.items():
        m[i, j] = m[j, i] = v
    return m


def test_clusters_group_agreeing_answers_and_put_the_majority_first():
    a = matrix({(0, 1): 0.1, (0, 2): 0.05, (1, 2): 0.9, (1, 3): 0.8, (2, 3): 0.85, (0, 3): 0.1}, 4)
    assert clustering.cluster(a) == [[1, 2, 3], [0]]


def test_representative_is_the_best_connected_member():
    a = matrix({(0, 1): 0.6, (0, 2): 0.9, (1, 2): 0.7}, 3)
    assert clustering.representative([0, 1, 2], a) == 2


def test_same_family_models_count_as_one_vote():
    assert score.family_weights(["qwen", "qwen", "gemma"]) == [0.5, 0.5, 1.0]


def test_same_family_agreement_is_discounted():
    # 0 and 1 agree with each other; 2 disagrees with both.
    a = matrix({(0, 1): 0.95, (0, 2): 0.1, (1, 2): 0.1}, 3)
    c = np.zeros((3, 3), dtype=bool)
    groups = clustering.cluster(a)
    independent = score.compute(a, c, ["x", "y", "z"], groups)
    correlated = score.compute(a, c, ["x", "x", "z"], groups)
    assert correlated.score < independent.score
    assert correlated.effective_votes == 2.0
    assert correlated.majority_share == pytest.approx(0.5)


def test_one_contradiction_pulls_the_score_down():
    agree = matrix({(0, 1): 0.9, (0, 2): 0.9, (1, 2): 0.9}, 3)
    clash = matrix({(0, 1): 0.9, (0, 2): 0.9, (1, 2): 0.02}, 3)
    c = np.zeros((3, 3), dtype=bool)
    fams = ["a", "b", "c"]
    high = score.compute(agree, c, fams, clustering.cluster(agree)).score
    low = score.compute(clash, c, fams, clustering.cluster(clash)).score
    assert high >= 85 and low < high - 30


def test_verdicts_are_bands_of_the_score_alone():
    # Issue 12, case 4: 12 and 24 were "majority with dissent" while 15 and 20 were
    # "contradictory", and a 68 was "weak consensus" beside "All 3 models agree".
    assert score.verdict(90) == "strong consensus" and score.verdict(75) == "strong consensus"
    assert score.verdict(68) == score.verdict(50) == "weak consensus"
    assert score.verdict(40) == score.verdict(25) == "divided"
    assert {score.verdict(s) for s in (0, 12, 15, 20, 24)} == {"contradictory"}


@given(st.floats(0, 100), st.floats(0, 100))
def test_a_higher_score_never_gets_a_weaker_verdict(x: float, y: float):
    from drux.verdicts import BANDS

    rank = {name: i for i, (_, name) in enumerate(BANDS)}  # 0 is the strongest band
    low, high = sorted((x, y))
    assert rank[score.verdict(high)] <= rank[score.verdict(low)]


@st.composite
def panels(draw):
    k = draw(st.integers(2, 6))
    values = draw(st.lists(st.floats(0, 1), min_size=k * (k - 1) // 2, max_size=k * (k - 1) // 2))
    fams = draw(st.lists(st.sampled_from("abc"), min_size=k, max_size=k))
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    return matrix(dict(zip(pairs, values, strict=True)), k), fams


@given(panels(), st.randoms())
@settings(max_examples=80, deadline=None)
def test_score_in_range_and_invariant_to_answer_order(panel, rnd):
    a, fams = panel
    c = a < 0.3
    base = score.compute(a, c, fams, clustering.cluster(a, weights=score.family_weights(fams)))
    assert 0.0 <= base.score <= 100.0
    perm = list(range(len(fams)))
    rnd.shuffle(perm)
    pa = a[np.ix_(perm, perm)]
    pf = [fams[i] for i in perm]
    moved = score.compute(pa, pa < 0.3, pf, clustering.cluster(pa, weights=score.family_weights(pf)))
    assert moved.score == pytest.approx(base.score, abs=0.11)
    assert moved.mean_agreement == pytest.approx(base.mean_agreement)


@given(panels())
@settings(max_examples=80, deadline=None)
def test_clusters_partition_the_answers(panel):
    a, _ = panel
    groups = clustering.cluster(a)
    assert sorted(i for g in groups for i in g) == list(range(a.shape[0]))
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)

"""The calibrated Consensus Score: the shipped map, its checks, and ECE on hand-made data."""

from itertools import pairwise

import numpy as np
import pytest
from pydantic import ValidationError

from drux.consensus import JudgeBackend, score_answers
from drux.consensus.calibrate import (
    IsotonicMap,
    PlattMap,
    ScoreCalibration,
    load_calibration,
)
from drux.consensus.metrics import auroc, expected_calibration_error, reliability

FAMS = {"a": "qwen", "b": "gemma", "c": "smollm"}
RAW = [i / 10 for i in range(1001)]  # every raw score the engine can produce (0.1 steps)


def test_the_shipped_map_is_strictly_increasing_and_within_0_100():
    calibration = load_calibration()
    assert calibration.is_calibrated("fast")
    for n_answers in (2, 3, 5):
        mapped = [calibration.apply("fast", r, n_answers) for r in RAW]
        assert all(0.0 <= m <= 100.0 for m in mapped)
        # Strictly: a tie between two raw scores would move AUROC (ties count half).
        assert all(b > a for a, b in pairwise(mapped)), n_answers


def test_the_map_leaves_auroc_exactly_as_it_was():
    rng = np.random.default_rng(0)
    raw = np.round(rng.uniform(0, 100, 400), 1)
    labels = (rng.uniform(0, 100, 400) < raw).astype(int)
    mapped = [load_calibration().apply("fast", float(r), 3) for r in raw]
    assert auroc(labels, mapped) == auroc(labels, raw)


def test_the_score_is_calibrated_and_the_raw_score_is_kept_in_the_breakdown():
    q = "Is it safe to eat raw chicken?"
    r = score_answers(q, {"a": "No, raw chicken can carry salmonella.",
                          "b": "Yes, raw chicken is perfectly safe to eat.",
                          "c": "No, it is not safe because of bacteria."}, FAMS)
    assert r.score is not None
    raw = r.breakdown["raw_score"]
    assert r.backend == "fast" and load_calibration().is_calibrated("fast")
    assert r.score == load_calibration().apply("fast", raw, 3)
    assert r.to_dict()["breakdown"]["raw_score"] == pytest.approx(raw)


def test_a_backend_without_a_fitted_map_shows_its_raw_score():
    answers = {"a": "Canberra.", "b": "Sydney.", "c": "Canberra is the capital."}
    r = score_answers("Capital of Australia?", answers, FAMS, backend="judge",
                      judge=JudgeBackend(lambda *_: "no"))
    assert not load_calibration().is_calibrated("judge")
    assert r.score == r.breakdown["raw_score"]


def test_maps_that_are_not_monotonic_or_leave_0_100_are_refused():
    with pytest.raises(ValidationError):
        PlattMap(slope=-1.0, intercept=0.0)  # decreasing: a higher raw score would mean less
    with pytest.raises(ValidationError):
        IsotonicMap(raw=[0, 50, 100], calibrated=[10, 10, 90])  # flat: ties
    with pytest.raises(ValidationError):
        IsotonicMap(raw=[0, 50, 100], calibrated=[10, 60, 120])
    with pytest.raises(ValidationError):
        ScoreCalibration.model_validate({"maps": {}, "extra": 1})


def test_isotonic_map_interpolates_between_knots():
    m = IsotonicMap(raw=[0, 50, 100], calibrated=[10, 30, 90])
    assert m(0) == 10 and m(25) == 20 and m(75) == 60 and m(100) == 90


def test_platt_map_with_slope_one_and_no_intercept_is_the_identity():
    m = PlattMap(slope=1.0, intercept=0.0)
    assert [round(m(r), 6) for r in (10.0, 50.0, 90.0)] == [10.0, 50.0, 90.0]


def test_ece_on_a_hand_made_example():
    # Bin 0.2-0.3: predictions 0.2, 0.2, labels 0, 1 -> gap |0.5 - 0.2| = 0.3, 2 items.
    # Bin 0.8-0.9: predictions 0.8 x 4, labels 1, 1, 1, 0 -> gap |0.75 - 0.8| = 0.05, 4 items.
    # Bin 0.9-1.0: prediction 1.0 (falls in the last bin), label 1 -> gap 0, 1 item.
    probs = [0.2, 0.2, 0.8, 0.8, 0.8, 0.8, 1.0]
    labels = [0, 1, 1, 1, 1, 0, 1]
    assert expected_calibration_error(labels, probs, bins=10) == pytest.approx((2 * 0.3 + 4 * 0.05) / 7)
    assert reliability(labels, probs, bins=10) == [
        (pytest.approx(0.2), 0.5, 2), (pytest.approx(0.8), 0.75, 4), (1.0, 1.0, 1)]


def test_ece_is_zero_when_every_bin_matches_and_one_when_sure_and_always_wrong():
    assert expected_calibration_error([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.0
    assert expected_calibration_error([1, 0], [0.0, 1.0]) == 1.0


def test_even_odds_stay_even_odds():
    # 50 is the backends' "no evidence either way" (an answer that only echoes the question
    # is held there); the map must not turn it into evidence for or against.
    calibration = load_calibration()
    for n_answers in (2, 3):
        assert calibration.apply("fast", 50.0, n_answers) == 50.0
        assert calibration.apply("fast", 49.9, n_answers) < 50.0 < calibration.apply("fast", 50.1, n_answers)

"""The agreement cross-encoders behind the ``cross`` backend: the shipped files are the pinned
ones and nothing else loads, a pair reads the same whatever the order, the ensemble is the
mean of its models, and the backend's rules (the same words agree; a clash the reader finds
caps the pair) hold."""

import hashlib
import shutil

import pytest

from drux.consensus import score_answers
from drux.consensus.backends import CrossBackend
from drux.consensus.crossenc import (
    FULL_MODEL_FILE,
    FULL_MODEL_SHA256,
    MODEL_FILE,
    MODEL_SHA256,
    CrossEncoder,
    CrossEnsemble,
    shared_cross_encoder,
)
from drux.consensus.engine import DEFAULT_BACKEND, cross_backend
from drux.consensus.statements import same_statement
from drux.errors import WeightsError


def test_the_shipped_models_are_the_pinned_ones_and_selectable():
    assert hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest() == MODEL_SHA256
    assert hashlib.sha256(FULL_MODEL_FILE.read_bytes()).hexdigest() == FULL_MODEL_SHA256
    assert DEFAULT_BACKEND == "fast"  # the cross-encoder is not the default yet: see RESULTS.md
    result = score_answers("Why?", {"a": "Because.", "b": "No idea."}, {}, backend="cross")
    assert result.backend == "cross" and result.score is not None


def test_a_changed_or_missing_model_file_is_refused(tmp_path):
    changed = tmp_path / "model.onnx"
    shutil.copyfile(MODEL_FILE, changed)
    with changed.open("r+b") as fh:  # one byte of the weights flipped
        fh.seek(-1000, 2)
        byte = fh.read(1)
        fh.seek(-1000, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match="sha256"):
        CrossEncoder(changed).agreement("Q?", [("a", "b")])
    with pytest.raises(WeightsError, match="missing"):
        CrossEncoder(tmp_path / "gone.onnx").agreement("Q?", [("a", "b")])


def test_a_pair_reads_the_same_in_both_orders_and_in_any_batch():
    model = shared_cross_encoder()
    q = "What is the capital of Australia?"
    a, b = "The capital is Canberra.", "It is Sydney, the largest city."
    forward, backward = model.agreement(q, [(a, b), (b, a)])
    assert forward == pytest.approx(backward, abs=1e-9)
    alone = model.agreement(q, [(a, b)])[0]
    crowd = model.agreement(q, [(a, b), ("Canberra.", "Melbourne."), (a, "Canberra")])[0]
    assert alone == crowd
    assert model.agreement(q, []) == []


def test_the_ensemble_is_the_mean_of_its_models():
    q = "What is the capital of Australia?"
    pairs = [("The capital is Canberra.", "It is Sydney."), ("Canberra.", "canberra, I think")]
    ensemble = shared_cross_encoder()
    assert isinstance(ensemble, CrossEnsemble) and len(ensemble.models) == 2
    each = [m.agreement(q, pairs) for m in ensemble.models]
    assert each[0] != each[1]  # two different models
    assert ensemble.agreement(q, pairs) == pytest.approx([(x + y) / 2 for x, y in zip(*each, strict=True)])
    with pytest.raises(ValueError):
        CrossEnsemble([])


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Paris.", "paris", True),
    ("It was -89 °C.", "It was 89 °C", False),
    ("It was −89 °C.", "it was -89 °C!", True),
    ("...", "...", False),
])
def test_the_same_statement_up_to_case_punctuation_and_spacing(a, b, same):
    assert same_statement(a, b) is same


def test_an_answer_and_its_rewording_agree_wrong_or_right():
    q = "What happens if you swallow gum?"
    backend = cross_backend()
    for answer in ("It passes through your digestive system.",  # right
                   "It stays in your stomach for seven years."):  # wrong: agreement, not truth
        same = backend.judge_pairs(q, [answer, answer.upper()])[(0, 1)]
        hedged = backend.judge_pairs(q, [answer, "I think " + answer[0].lower() + answer[1:]])
        assert same.agreement == 1.0 and same.relation == "agree"
        assert hedged[(0, 1)].agreement >= 0.9, answer


def test_a_clash_the_reader_finds_caps_the_pair():
    q = "What is the capital of Australia?"
    judged = cross_backend().judge_pairs(q, ["The capital of Australia is Canberra.",
                                             "Canberra is the capital city.",
                                             "The capital of Australia is Sydney."])
    assert judged[(0, 1)].relation == "agree"
    assert judged[(0, 2)].relation == "contradict" and judged[(0, 2)].agreement < 0.5
    assert "entity: Canberra vs Sydney" in judged[(0, 2)].reasons


def test_the_blend_weight_moves_between_the_model_and_the_fast_backend():
    q = "Who wrote Dracula?"
    answers = ["Bram Stoker wrote it.", "It was written by Bram Stoker in 1897."]
    only_model = CrossBackend(cross_backend().fast, shared_cross_encoder(), cross_weight=1.0)
    only_fast = CrossBackend(cross_backend().fast, shared_cross_encoder(), cross_weight=0.0)
    model_p = shared_cross_encoder().agreement(q, [(answers[0], answers[1])])[0]
    fast_p = cross_backend().fast.judge_pairs(q, answers)[(0, 1)].agreement
    assert only_model.judge_pairs(q, answers)[(0, 1)].agreement == pytest.approx(model_p, abs=1e-9)
    assert only_fast.judge_pairs(q, answers)[(0, 1)].agreement == pytest.approx(fast_p, abs=1e-9)


def test_a_name_swapped_inside_a_sentence_is_not_agreement():
    # The model alone scores these 0.99; the reader now finds the name that opens a sentence.
    from drux.consensus import score_answers

    q = "What is the capital of Australia?"
    r = score_answers(q, {"a": "The capital of Australia is Canberra.",
                          "b": "Canberra is the capital city of Australia.",
                          "c": "The capital of Australia is Sydney."},
                      {"a": "a", "b": "b", "c": "c"}, backend="cross")
    assert ["a", "b"] in [sorted(c) for c in r.clusters]
    two = score_answers(q, {"a": "Sydney is the capital of Australia.",
                            "b": "Canberra is the capital of Australia."},
                        {"a": "a", "b": "b"}, backend="cross")
    assert two.clusters == [["a"], ["b"]] or sorted(map(sorted, two.clusters)) == [["a"], ["b"]]
    assert two.verdict not in {"strong consensus", "consensus"}

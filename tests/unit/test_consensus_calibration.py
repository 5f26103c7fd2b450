import json

import pytest

from drux.consensus.calibration import (
    eval_calibration,
    is_correct,
    read_recorded,
    record_answers,
    selective_accuracy,
)
from drux.errors import InputError


def test_nq_match_is_normalised_whole_word_and_ignores_question_echo():
    assert is_correct("The Beatles.", ["Beatles"])
    assert is_correct("It was in December, 1972!", ["december 1972"])
    assert not is_correct("the executioner", ["one"])  # no substring matches inside words
    q = "how many seasons of the bastard executioner are there"
    assert not is_correct("The Bastard Executioner", ["bastard executioner"], q)
    assert is_correct("One season.", ["one season"], q)


def test_selective_accuracy_takes_the_highest_scores():
    assert selective_accuracy([90, 10, 80, 20], [True, False, True, False], 0.5) == 1.0
    assert selective_accuracy([90, 10, 80, 20], [False, True, True, False], 0.25) == 0.0


async def test_recording_is_resumable(tmp_path):
    data = [{"question": f"q{i}", "answer": ["x"]} for i in range(3)]
    out = tmp_path / "answers.jsonl"
    asked = []

    async def answerer(question):
        asked.append(question)
        return {"m1": "x", "m2": "y"}, {"m1": "a", "m2": "b"}

    assert await record_answers(data[:2], out, answerer) == 2
    with out.open("a") as fh:
        fh.write('{"question": "torn')  # an interrupted write
    assert await record_answers(data, out, answerer) == 1
    assert asked == ["q0", "q1", "q2"]
    assert set(read_recorded(out)) == {"q0", "q1", "q2"}


async def test_a_question_no_member_answered_is_asked_again_next_run(tmp_path):
    # It was cached with no answers: a panel that was down stayed "recorded" for good.
    data = [{"question": "q0", "answer": ["x"]}]
    out = tmp_path / "answers.jsonl"
    replies = [({}, {}), ({"m1": "x"}, {"m1": "a"})]

    async def answerer(question):
        return replies.pop(0)

    await record_answers(data, out, answerer)
    assert read_recorded(out) == {}
    await record_answers(data, out, answerer)
    assert read_recorded(out)["q0"]["answers"] == {"m1": "x"}


def test_eval_calibration_reports_accuracy_auroc_and_selective_accuracy(tmp_path):
    data = tmp_path / "nq.jsonl"
    rows = [
        {"question": "What is the capital of France?", "answer": ["Paris"]},
        {"question": "How many legs does a spider have?", "answer": ["eight", "8"]},
        {"question": "Who wrote Hamlet?", "answer": ["Shakespeare"]},
        {"question": "Unrecorded?", "answer": ["x"]},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    answers = tmp_path / "answers.jsonl"
    recorded = [
        {"question": rows[0]["question"], "answers": {"a": "Paris.", "b": "Paris", "c": "Paris, France."}},
        {"question": rows[1]["question"], "answers": {"a": "Six.", "b": "Ten legs.", "c": "Two."}},
        {"question": rows[2]["question"], "answers": {"a": "Shakespeare."}},
    ]
    with answers.open("w") as fh:
        for r in recorded:
            fh.write(json.dumps({**r, "families": {"a": "x", "b": "y", "c": "z"}}) + "\n")
    report = eval_calibration(data, answers)
    assert report["n_questions"] == 2 and report["n_unscored"] == 1 and report["n_missing"] == 1
    assert report["accuracy"] == 0.5 and report["AUROC"] == 1.0
    assert report["selective_accuracy_top50"] == 1.0
    with pytest.raises(InputError):
        eval_calibration(data, tmp_path / "none.jsonl")


def test_undecodable_files_and_a_folder_for_answers_are_input_errors(tmp_path):
    # Were "unexpected UnicodeDecodeError" / "IsADirectoryError" in drux eval calibration.
    from drux.consensus.calibration import load_questions

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\xf7\xff\x00 not text")
    with pytest.raises(InputError, match="not UTF-8"):
        load_questions(garbage, None)
    with pytest.raises(InputError, match="not UTF-8"):
        read_recorded(garbage)
    with pytest.raises(InputError, match="folder"):
        read_recorded(tmp_path)

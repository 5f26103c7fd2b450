import json

import pytest

from drux.consensus.evaluate import eval_agreement, format_agreement, sample
from drux.errors import InputError


def write(folder, name, rows):
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_eval_agreement_reads_another_folder_and_separates_clear_cases(tmp_path):
    q = "Is the Earth flat?"
    good = ["No, the Earth is round.", "No, it is roughly a sphere.", "No, the Earth is not flat."]
    bad = ["No, the Earth is round.", "Yes, the Earth is flat.", "No, it is roughly a sphere."]
    sets = [
        {"qid": "q1", "question": q, "k": 3, "n_incorrect": 0, "label": 1, "agree_frac": 1.0,
         "answers": good, "contrastive": [False] * 3},
        {"qid": "q1", "question": q, "k": 3, "n_incorrect": 1, "label": 0, "agree_frac": 0.67,
         "answers": bad, "contrastive": [False] * 3},
    ]
    pairs = [
        {"qid": "q1", "question": q, "label": 1, "answers": good[:2], "contrastive": [False] * 2},
        {"qid": "q1", "question": q, "label": 0, "answers": bad[:2], "contrastive": [False] * 2},
    ]
    write(tmp_path, "dev_sets.jsonl", sets)
    write(tmp_path, "dev_pairs.jsonl", pairs)
    report = eval_agreement(tmp_path, "fast", None, bootstrap=10)
    assert report["sets"]["AUROC"] == 1.0 and report["pairs"]["AUROC"] == 1.0
    assert "[dev/sets] backend=fast  AUROC=1.0000" in format_agreement(report)


def test_eval_agreement_reports_and_prints_the_ece_beside_the_auroc(tmp_path, monkeypatch):
    from drux.consensus import evaluate

    q = "Is the Earth flat?"
    rows = [{"qid": f"q{i}", "question": q, "label": label, "answers": [f"a{i}", f"b{i}"]}
            for i, label in enumerate([1, 1, 0, 0])]
    write(tmp_path, "dev_pairs.jsonl", rows)
    # Scripted scores: 90 and 90 for the agreeing pairs, 90 and 10 for the others.
    scores = iter([90.0, 90.0, 90.0, 10.0])
    monkeypatch.setattr(evaluate, "panel_score", lambda *_args: next(scores))
    report = eval_agreement(tmp_path, "fast", None, tasks=("pairs",), bootstrap=10)
    # Bin 0.9-1.0: three items at 0.9, two agree -> |2/3 - 0.9|; bin 0.1: one at 0.1, none agree.
    expected = (3 * abs(2 / 3 - 0.9) + 1 * 0.1) / 4
    assert report["pairs"]["ECE"] == pytest.approx(expected)
    first = format_agreement(report).splitlines()[0]
    assert first.startswith("[dev/pairs] backend=fast  AUROC=0.7500")
    assert f"ECE={expected:.4f} (10 bins)" in first


def test_missing_or_broken_data_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no benchmark file"):
        eval_agreement(tmp_path, "fast", None)
    (tmp_path / "dev_sets.jsonl").write_text("not json\n")
    with pytest.raises(InputError, match="not a benchmark item"):
        eval_agreement(tmp_path, "fast", None, tasks=("sets",))
    (tmp_path / "dev_sets.jsonl").write_bytes(b"\xf7\xff garbage")  # was UnicodeDecodeError
    with pytest.raises(InputError, match="not UTF-8"):
        eval_agreement(tmp_path, "fast", None, tasks=("sets",))


@pytest.mark.parametrize("row", [
    {"answers": 5},  # was unexpected TypeError from len()
    {"answers": [1, 2]},  # was unexpected TypeError from numpy
    {"label": "yes"},
    {"k": None},  # a set without the fields the metrics read: was unexpected KeyError
    [1, 2],
])
def test_items_of_the_wrong_shape_are_input_errors(tmp_path, row):
    item = {"qid": "q1", "question": "Q?", "k": 2, "n_incorrect": 0, "label": 1,
            "agree_frac": 1.0, "answers": ["a", "b"]}
    item = {k: v for k, v in {**item, **row}.items() if v is not None} if isinstance(row, dict) else row
    write(tmp_path, "dev_sets.jsonl", [item])
    with pytest.raises(InputError, match=r"dev_sets\.jsonl:1 is not a benchmark item"):
        eval_agreement(tmp_path, "fast", None, tasks=("sets",), bootstrap=10)


def test_an_empty_benchmark_file_is_an_input_error(tmp_path):
    (tmp_path / "dev_pairs.jsonl").write_text("")  # was unexpected ValueError from numpy
    with pytest.raises(InputError, match="holds no benchmark items"):
        eval_agreement(tmp_path, "fast", None, tasks=("pairs",))


def test_sample_is_seeded_and_bounded():
    items = [{"i": i} for i in range(50)]
    assert sample(items, 10) == sample(items, 10) and len(sample(items, 10)) == 10
    assert sample(items, None) is items
    with pytest.raises(InputError):
        sample(items, 0)


def test_one_label_only_says_auroc_is_undefined_without_numpy_warnings(tmp_path):
    import warnings

    q = "Is the Earth flat?"
    pairs = [{"qid": "q1", "question": q, "label": 1, "contrastive": [False] * 2,
              "answers": ["No, the Earth is round.", "No, it is roughly a sphere."]}] * 2
    write(tmp_path, "dev_pairs.jsonl", pairs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "All-NaN slice encountered" went to stderr
        report = eval_agreement(tmp_path, "fast", None, tasks=("pairs",), bootstrap=10)
    text = format_agreement(report)
    assert "AUROC=nan" in text and "every item has the same label" in text

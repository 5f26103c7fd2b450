"""`drux eval agreement` and `drux eval calibration` as a user runs them, on small data
folders of our own (the commands must accept any folder, not only the shared dev split)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import FakeServer, Reply

DRUX = str(Path(sys.executable).with_name("drux"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(DRUX_DATA_DIR=str(tmp_path / "data"), DRUX_USER_CONFIG=str(tmp_path / "u.toml"),
               DRUX_PROJECT_CONFIG=str(tmp_path / "drux.toml"),
               DRUX_KEYS_FILE=str(tmp_path / "k.json"), **extra)
    return env


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_eval_agreement_on_another_folder(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    q = "Is the Earth flat?"
    agree = ["No, the Earth is round.", "No, it is a sphere.", "The Earth is not flat."]
    clash = ["No, the Earth is round.", "Yes, the Earth is flat.", "No, it is a sphere."]
    ok = [True, True, True]
    mixed = [True, False, True]
    sets = [{"qid": f"q{i}", "id": f"s{i}", "split": "dev", "question": q, "answers": a, "k": 3,
             "label": int(all(c)), "agree_frac": sum(c) / 3, "n_incorrect": c.count(False),
             "is_correct": c, "contrastive": [False] * 3}
            for i, (a, c) in enumerate([(agree, ok), (clash, mixed)] * 3)]
    pairs = [{"qid": f"q{i}", "id": f"p{i}", "split": "dev", "question": q, "answers": a[:2],
              "label": int(all(c[:2])), "is_correct": c[:2], "contrastive": [False] * 2}
             for i, (a, c) in enumerate([(agree, ok), (clash, mixed)] * 3)]
    _write_jsonl(folder / "dev_sets.jsonl", sets)
    _write_jsonl(folder / "dev_pairs.jsonl", pairs)
    proc = subprocess.run([DRUX, "eval", "agreement", "--data", str(folder), "--json"],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["sets"]["n_items"] == 6
    assert report["pairs"]["n_items"] == 6
    assert 0.0 <= report["sets"]["AUROC"] <= 1.0
    assert 0.0 <= report["sets"]["ECE"] <= 1.0 and 0.0 <= report["pairs"]["ECE"] <= 1.0
    text = subprocess.run([DRUX, "eval", "agreement", "--data", str(folder)], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=300, check=False)
    assert text.returncode == 0, text.stderr
    for task in ("sets", "pairs"):  # the ECE is printed beside the AUROC, for both tasks
        line = next(ln for ln in text.stdout.splitlines() if ln.startswith(f"[dev/{task}]"))
        assert "AUROC=" in line and "ECE=" in line

    missing = subprocess.run([DRUX, "eval", "agreement", "--data", str(tmp_path / "nope")],
                             capture_output=True, text=True, env=_env(tmp_path), timeout=60,
                             check=False)
    assert missing.returncode != 0
    assert missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1


@pytest.mark.e2e
def test_eval_calibration_records_once_and_reports(tmp_path: Path) -> None:
    rows = [{"question": "who wrote dracula", "answer": ["Bram Stoker"]},
            {"question": "what is the capital of france", "answer": ["Paris"]},
            {"question": "how many legs does a spider have", "answer": ["eight", "8"]}]
    data = tmp_path / "nq.jsonl"
    _write_jsonl(data, rows)
    with FakeServer() as server:
        # Two fake models that agree and are right; a third that is wrong on one question.
        server.script("m-one", Reply(text="Bram Stoker"), Reply(text="Paris"), Reply(text="eight"))
        server.script("m-two", Reply(text="Bram Stoker"), Reply(text="Paris"), Reply(text="8"))
        server.script("m-three", Reply(text="Mary Shelley"), Reply(text="Paris"),
                      Reply(text="six"))
        (tmp_path / "drux.toml").write_text(f"""
[providers.fakeoai]
base_url = "{server.openai_url}"
key_required = false
[models.m-one]
provider = "fakeoai"
family = "one"
[models.m-two]
provider = "fakeoai"
family = "two"
[models.m-three]
provider = "fakeoai"
family = "three"
[panels]
fakes = ["m-one", "m-two", "m-three"]
""")
        cmd = [DRUX, "eval", "calibration", "--data", str(data), "--panel", "fakes", "--json"]
        first = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path),
                               timeout=300, check=False)
        assert first.returncode == 0, first.stderr
        asked = len(server.requests)
        assert asked == 9  # 3 questions x 3 models, each asked once
        second = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path),
                                timeout=300, check=False)
        assert second.returncode == 0, second.stderr
        assert len(server.requests) == asked  # recorded answers are reused, not asked again
    report = json.loads(second.stdout)
    assert report["n_questions"] == 3
    assert report["accuracy"] == 1.0  # the majority is right on every question
    assert Path(report["answers_file"]).is_file()

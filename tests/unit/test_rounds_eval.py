"""``drux eval deliberation``'s measurement on scripted panels: round 2 is asked with the
product's prompt and recorded once; conversions, accuracies and the synthesis are counted."""

from __future__ import annotations

import json
from pathlib import Path

from drux.consensus.rounds_eval import eval_deliberation, record_deliberation

from scripted import Reply, ScriptedProvider


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def test_rounds_are_recorded_once_and_conversions_counted(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "nq.jsonl", [
        {"question": "what is the capital of france", "answer": ["Paris"]},
        {"question": "how many legs does a dog have", "answer": ["4", "four"]},
    ])
    families = {"a": "fa", "b": "fb", "c": "fc"}
    round1 = _jsonl(tmp_path / "r1.jsonl", [
        {"question": "what is the capital of france",
         "answers": {"a": "Paris", "b": "Lyon", "c": "Lyon"}, "families": families},
        {"question": "how many legs does a dog have",
         "answers": {"a": "4", "b": "4", "c": "5"}, "families": families},
    ])
    providers = {
        # a answers round 2 then writes the synthesis, per question.
        "a": ScriptedProvider("a", [Reply("Lyon\nWhy: the others say Lyon."), Reply("Paris [a] vs Lyon [b, c]"),
                                    Reply("4\nWhy: kept."), Reply("4 [a, b]; 5 [c]")]),
        "b": ScriptedProvider("b", [Reply("Lyon"), Reply("4")]),
        "c": ScriptedProvider("c", [Reply("Lyon"), Reply("4\nWhy: Model A and Model B agree.")]),
    }
    out = tmp_path / "rounds.jsonl"
    assert await record_deliberation(
        [json.loads(line) for line in data.read_text().splitlines()], round1, out, providers, "a") == 2
    # Round 2 shows each model the others' round-1 answers, unnamed.
    seen = providers["a"].requests[0].messages[-1].content
    assert "Model A: Lyon" in seen and "Model B: Lyon" in seen and "b:" not in seen
    assert "a: Paris" in providers["a"].requests[1].messages[-1].content  # the synthesis names them
    recorded = [json.loads(line) for line in out.read_text().splitlines()]
    assert recorded[0]["round2"] == {"a": "Lyon", "b": "Lyon", "c": "Lyon"}
    assert recorded[1]["why"]["c"] == "Model A and Model B agree."

    # A second run asks nothing: the answers are recorded once and reused.
    assert await record_deliberation(
        [json.loads(line) for line in data.read_text().splitlines()], round1, out, providers, "a") == 0

    report = eval_deliberation(data, round1, out)
    assert report["n_questions"] == 2
    assert report["per_model_accuracy"]["a"] == {"round1": 1.0, "round2": 0.5}
    assert report["per_model_accuracy"]["c"] == {"round1": 0.0, "round2": 0.5}
    flips = report["model_flips"]
    assert flips["right_minority_converted_by_wrong_majority"] == 1  # a: Paris -> Lyon
    assert flips["wrong_minority_corrected_by_right_majority"] == 1  # c: 5 -> 4
    assert report["consensus_accuracy"] == {"round1": 0.5, "round2": 0.5}
    assert report["any_model_right"] == {"round1": 1.0, "round2": 0.5, "found": 0, "lost": 1}
    assert report["synthesis"]["n"] == 2 and report["synthesis"]["synthesis_right"] == 2
    assert report["synthesis"]["only_synthesis_right"] == 1
    assert report["round2_behaviour"]["a"] == {"answered": 2, "kept_verbatim": 1,
                                               "copied_another_verbatim": 1, "gave_why": 2}

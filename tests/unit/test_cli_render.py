"""Terminal rendering never passes control characters from stored text to the terminal."""

from __future__ import annotations

import io

from rich.console import Console

from drux.cli.render import Column, clean, columns_table, record_view
from drux.records import AnswerStatus, AskRecord

ESCAPES = "\x1b]0;PWNED\x07\x1b[31m\x9b2J"


def _record() -> AskRecord:
    answer = {"model": "m1", "family": "f", "deployment": None, "substituted_for": None,
              "answered_by": None, "recovered": False, "status": "failed",
              "text": f"answer {ESCAPES}", "finish_reason": None,
              "error": {"type": "x", "message": f"boom {ESCAPES}", "status": None},
              "timings": {"first_token_s": 0.1, "total_s": 0.2, "tokens_per_s": 3.0},
              "usage": {"input_tokens": 0, "output_tokens": 2}, "cost_usd": 0.0}
    return AskRecord.model_validate({
        "id": "abc", "created_at": None, "finished_at": None, "question": f"q {ESCAPES}",
        "context": None, "panel": None, "models": ["m1"], "skipped": [], "params": {},
        "status": "failed", "source": "cli", "article_id": None, "score": None,
        "verdict": None, "answers": [answer],
        "consensus": {"score": None, "reason": f"r {ESCAPES}"}})


def _render(renderable: object, width: int = 120) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False).print(renderable)
    return out.getvalue()


def test_stored_escape_sequences_do_not_reach_the_terminal() -> None:
    # A question posted to the web API with ESC sequences was printed raw by show/history/ask.
    shown = _render(record_view(_record(), f"explained {ESCAPES}"))
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "PWNED" in shown and "answer" in shown  # the text stays, only the controls go
    live = _render(columns_table([Column("m", "f", AnswerStatus.STREAMING, [ESCAPES, "tail"])]))
    assert "\x1b" not in live and "tail" in live


def test_clean_keeps_newlines_tabs_and_unicode() -> None:
    assert clean("a\n\tb é 💥\x1b[0m\x00") == "a\n\tb é 💥[0m"
    assert clean({"k": ["\x1bx", 3]}) == {"k": ["x", 3]}


def _answer(model: str, text: str, finish: str = "stop") -> dict[str, object]:
    return {"model": model, "family": model, "deployment": None, "substituted_for": None,
            "answered_by": None, "recovered": False, "status": "done", "text": text,
            "finish_reason": finish, "error": None,
            "timings": {"first_token_s": 0.1, "total_s": 0.2, "tokens_per_s": 3.0},
            "usage": {"input_tokens": 0, "output_tokens": 2}, "cost_usd": 0.0}


def _scored(consensus: dict[str, object], answers: list[dict[str, object]]) -> AskRecord:
    return AskRecord.model_validate({
        "id": "abc", "created_at": None, "finished_at": None, "question": "q?", "context": None,
        "panel": None, "models": [a["model"] for a in answers], "skipped": [], "params": {},
        "status": "complete", "source": "cli", "article_id": None,
        "score": consensus.get("score"), "verdict": consensus.get("verdict"),
        "answers": answers, "consensus": consensus})


def test_no_consensus_shows_the_positions_and_no_consensus_answer() -> None:
    # Issue 12, case 3: "closest planet to the Sun" scored 20 beside a consensus "Earth."
    from drux.consensus import score_answers

    answers = {"qwen2.5": "Mercury is the closest planet to the Sun.",
               "gemma3": "Mercury is closest to the Sun.", "smollm2": "Earth."}
    result = score_answers("Which planet is closest to the Sun?", answers, {})
    assert result.score is not None and result.score < 50
    record = _scored(result.to_dict(), [_answer(m, t) for m, t in answers.items()])
    shown = " ".join(_render(record_view(record, result.explanation())).split())
    assert "No consensus. Positions: Mercury is the closest planet to the Sun: qwen2.5, gemma3 · " \
           "Earth: smollm2" in shown
    assert "Consensus answer" not in shown and "group 1" not in shown


def test_a_truncated_answer_is_marked_in_the_columns_and_the_timings() -> None:
    record = _scored({"score": None, "verdict": "n/a", "reason": "only one successful answer"},
                     [_answer("m1", "Red, blue and", finish="length"), _answer("m2", "Red.")])
    shown = _render(record_view(record, "No consensus score: only one successful answer"))
    assert shown.count("cut off at the token limit") == 2  # its column and its timings row
    # The reason scoring did not happen is said once (it was printed twice).
    assert shown.count("only one successful answer") == 1


def test_the_timings_table_keeps_model_ids_whole_at_80_columns() -> None:
    # Rich shrank every column evenly: "some-much-l…" in `drux ask` and `drux show`.
    long_id = "openrouter-claude-sonnet-4-with-a-suffix"
    data = _record().model_dump(mode="json")
    data["answers"][0]["model"] = long_id
    data["answers"][0]["error"]["message"] = "boom"
    shown = _render(record_view(AskRecord.model_validate(data)), 80)
    assert long_id in shown and "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80

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


def test_the_timings_table_keeps_model_ids_whole_at_80_columns() -> None:
    # Rich shrank every column evenly: "some-much-l…" in `drux ask` and `drux show`.
    long_id = "openrouter-claude-sonnet-4-with-a-suffix"
    data = _record().model_dump(mode="json")
    data["answers"][0]["model"] = long_id
    data["answers"][0]["error"]["message"] = "boom"
    shown = _render(record_view(AskRecord.model_validate(data)), 80)
    assert long_id in shown and "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80

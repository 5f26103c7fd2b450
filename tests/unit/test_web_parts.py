"""Small parts of the web app: the rate-limit window, the SVGs, the Markdown export."""

from __future__ import annotations

from types import SimpleNamespace

import limits.aio.storage.memory
import pytest

import drux.state.limits
from drux.records import AnswerRecord, AskRecord
from drux.state.limits import MemoryRateLimits
from drux.web.ratelimit import RateLimited, WindowLimiter
from drux.web.svg import gauge, heatmap
from drux.web.views import answer_view, to_markdown


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock the ``limits`` memory windows read, made a fake one."""
    fake = Clock()
    monkeypatch.setattr(limits.aio.storage.memory, "time", SimpleNamespace(time=fake))
    monkeypatch.setattr(drux.state.limits, "time", SimpleNamespace(time=fake))
    return fake


async def test_window_allows_a_burst_then_the_rate(clock: Clock) -> None:
    # 2 at once, 6 a minute: 2 per 20 s window.
    limiter = WindowLimiter(MemoryRateLimits(), "asks", per_minute=6, burst=2)
    await limiter.take("a")
    clock.now += 5
    await limiter.take("a")
    with pytest.raises(RateLimited) as info:
        await limiter.take("a")
    assert info.value.retry_after == pytest.approx(15.0)  # when the first leaves the window
    await limiter.take("b")  # another client has its own window
    clock.now += 10
    with pytest.raises(RateLimited) as info:
        await limiter.take("a")
    assert info.value.retry_after == pytest.approx(5.0)
    clock.now += 5.5
    await limiter.take("a")
    clock.now += 3600  # never more than the burst at once, however long the pause
    await limiter.take("a")
    await limiter.take("a")
    with pytest.raises(RateLimited):
        await limiter.take("a")


def test_window_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        WindowLimiter(MemoryRateLimits(), "asks", per_minute=0, burst=1)
    assert WindowLimiter(MemoryRateLimits(), "asks", per_minute=6, burst=3).window_seconds == 30


def test_gauge_shows_the_score_and_its_band() -> None:
    assert ">87<" in gauge(87.4) and "gauge-high" in gauge(87.4)
    assert "gauge-low" in gauge(12) and "gauge-mid" in gauge(55)
    assert "—" in gauge(None) and "gauge-value" not in gauge(None)


def test_heatmap_escapes_names_and_colours_every_pair() -> None:
    matrix = {"<b>x</b>": {"y": 0.9}, "y": {"<b>x</b>": 0.9}}
    svg = heatmap(matrix, ["<b>x</b>", "y"])
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert svg.count('class="hm-cell"') == 2 and svg.count("hm-self") == 2
    assert heatmap({"only": {}}, ["only"]) == ""


NO_TIMINGS = {"first_token_s": None, "total_s": None, "tokens_per_s": None}


def _answer(**kw: object) -> AnswerRecord:
    base: dict[str, object] = {
        "model": "m1", "family": "f", "deployment": None, "substituted_for": None,
        "answered_by": None, "recovered": False, "status": "done", "text": "Paris.",
        "finish_reason": "stop", "error": None, "timings": {**NO_TIMINGS, "total_s": 1.25},
        "usage": {"input_tokens": 0, "output_tokens": 3}, "cost_usd": 0.00012}
    base.update(kw)
    return AnswerRecord.model_validate(base)


def _ask(**kw: object) -> AskRecord:
    base: dict[str, object] = {
        "id": "abc", "created_at": None, "finished_at": None, "question": "q", "context": None,
        "panel": None, "models": [], "skipped": [], "params": {}, "status": "complete",
        "source": "cli", "article_id": None, "score": None, "verdict": None, "consensus": None,
        "answers": []}
    base.update(kw)
    return AskRecord.model_validate(base)


def test_answer_view_labels_substitutes_and_failures() -> None:
    v = answer_view(_answer(answered_by="m2"))
    assert v.substitute == "answered by m2 instead of m1"
    assert (v.latency, v.tokens, v.cost) == ("1.2 s", "3 tokens", "$0.0001")
    failed = answer_view(_answer(status="failed", text="", error={
        "type": "timeout", "message": "no answer in 5 s", "status": None},
        usage={"input_tokens": 0, "output_tokens": 0}, timings=NO_TIMINGS))
    assert failed.error == "timeout: no answer in 5 s" and failed.latency == "—"


def test_markdown_export_has_question_score_and_every_answer() -> None:
    record = _ask(question="Capital of France?", score=91.0, verdict="strong consensus",
                  consensus={"explanation": "All 2 models agree."},
                  answers=[_answer(), _answer(model="m2", text="Paris, France.")])
    md = to_markdown(record, "http://x/r/abc")
    assert md.startswith("# Capital of France?\n")
    assert "**Consensus Score: 91/100** (strong consensus)" in md
    assert "## m1" in md and "## m2" in md and "Paris, France." in md


def test_consensus_view_labels_a_synthesis_and_sanitises_it() -> None:
    from drux.web.views import consensus_view

    consensus = {
        "score": 80.0, "verdict": "strong consensus", "explanation": "a and b agree",
        "matrix": {}, "claims": [], "contradictions": [],
        "consensus_answer": "Paris <script>alert(1)</script>", "consensus_kind": "synthesis",
        "synthesized_by": "openai:gpt-4.1", "consensus_model": "a"}
    view = consensus_view(_ask(models=["a", "b"], consensus=consensus))
    assert view is not None
    assert view.answer_label == "synthesized by openai:gpt-4.1"
    assert "Paris" in view.answer_html and "<script" not in view.answer_html
    consensus["consensus_kind"] = "representative"
    representative = consensus_view(_ask(models=["a", "b"], consensus=consensus))
    assert representative is not None and representative.answer_label == "answer of a"


def _raw_html(md: str) -> list[str]:
    """Every piece of raw HTML a CommonMark renderer that allows HTML finds in ``md``."""
    from markdown_it import MarkdownIt

    found: list[str] = []
    for token in MarkdownIt("commonmark", {"html": True}).parse(md):
        found += [t.content for t in [token, *(token.children or [])]
                  if t.type in ("html_block", "html_inline")]
        found += [t.attrs["href"] for t in token.children or []  # type: ignore[misc]
                  if t.type == "link_open" and not str(t.attrs["href"]).startswith("http")]
    return found


_HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    "\\<b onmouseover=alert(1)>x</b>", "<!-- hidden -->", "<javascript:alert(1)>",
    "- item\n  ```\n<script>alert(1)</script>",
    "```\ncode\n```\n<iframe src=//evil.example></iframe>",
    "~~~\n<p>a</p>\n~~~~\n\n<svg onload=alert(1)>", "text\n\n   <div onclick=alert(1)>x</div>",
    "```\n<still code>\n", "``` a`b\n<em onclick=x>y</em>",
]


@pytest.mark.parametrize("payload", _HOSTILE)
def test_markdown_export_carries_no_raw_html(payload: str) -> None:
    record = _ask(question=f"Q {payload}\n<b>two</b>", consensus={"explanation": payload},
                  answers=[_answer(text=payload),
                           _answer(model="m2", status="failed", text="",
                                   error={"type": "x", "message": payload, "status": None})])
    assert _raw_html(to_markdown(record, "http://x/r/abc")) == []


def test_markdown_export_stays_readable() -> None:
    text = "Use `a < b` and:\n\n```c\n#include <stdio.h>\n```\nthen <b>bold</b>."
    md = to_markdown(_ask(question="x < y?", answers=[_answer(text=text)]), "http://x/r/abc")
    assert "#include <stdio.h>" in md  # code is left as written
    assert "Result: <http://x/r/abc>" in md and "then \\<b>bold\\</b>." in md


NO_CONSENSUS = {
    "score": 12.0, "verdict": "contradictory", "explanation": "No consensus: ...",
    "clusters": [["qwen2.5", "gemma3"], ["smollm2"]], "matrix": {}, "claims": [],
    "contradictions": [], "consensus_model": "qwen2.5", "consensus_answer": "Canberra.",
    "positions": [{"label": "Canberra", "models": ["qwen2.5", "gemma3"], "model": "qwen2.5"},
                  {"label": "Sydney", "models": ["smollm2"], "model": "smollm2"}]}


def test_consensus_view_without_consensus_has_positions_and_no_answer() -> None:
    # Issue 12, case 3: a consensus answer was shown beside a score of 15. (Even a row that
    # stored one below the threshold shows the positions instead.)
    from drux.web.views import consensus_view

    view = consensus_view(_ask(models=["qwen2.5", "gemma3", "smollm2"], score=12.0,
                               consensus=NO_CONSENSUS))
    assert view is not None and view.no_consensus and view.answer_html == ""
    assert view.positions_line == "Canberra: qwen2.5, gemma3 · Sydney: smollm2"
    assert [p.label for p in view.positions] == ["Canberra", "Sydney"]
    older = consensus_view(_ask(score=12.0, consensus={
        k: v for k, v in NO_CONSENSUS.items() if k != "positions"}))
    assert older is not None and older.positions_line == "group 1: qwen2.5, gemma3 · group 2: smollm2"
    agreed = consensus_view(_ask(score=80.0, consensus={**NO_CONSENSUS, "score": 80.0}))
    assert agreed is not None and not agreed.no_consensus and "Canberra" in agreed.answer_html


def test_markdown_export_marks_truncated_answers_and_lists_positions() -> None:
    record = _ask(score=12.0, verdict="contradictory", consensus=NO_CONSENSUS,
                  answers=[_answer(finish_reason="length"), _answer(model="m2")])
    md = to_markdown(record, "http://x/r/abc")
    assert "**No consensus.** Positions: Canberra: qwen2.5, gemma3 · Sydney: smollm2" in md
    assert md.count("cut off at the token limit") == 1
    assert answer_view(_answer(finish_reason="length")).label == "done · cut off at the token limit"


def test_a_claim_a_cut_answer_did_not_reach_stays_in_the_claim_map() -> None:
    from drux.web.views import consensus_view

    claim = {"text": "The ocean makes it blue.", "supported_by": ["c"], "contradicted_by": [],
             "unique": False, "reasons": [], "not_reached_by": ["b"]}
    view = consensus_view(_ask(score=80.0, consensus={**NO_CONSENSUS, "score": 80.0,
                                                      "claims": [claim]}))
    assert view is not None and [c.text for c in view.unique] == ["The ocean makes it blue."]
    assert view.unique[0].not_reached_by == ["b"]

"""What the thread page and the thread exports show: every turn with its score."""

from __future__ import annotations

from dataclasses import dataclass

from drux.records import AskRecord, ThreadRecord
from drux.web.markdown import escape_raw_html
from drux.web.views import AnswerView, ConsensusView, answer_view, consensus_view


@dataclass(slots=True)
class TurnView:
    ask: AskRecord
    answers: list[AnswerView]
    consensus: ConsensusView | None


def turn_views(turns: list[AskRecord]) -> list[TurnView]:
    return [TurnView(t, [answer_view(a) for a in t.answers], consensus_view(t)) for t in turns]


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def thread_markdown(thread: ThreadRecord, url: str) -> str:
    """The whole thread as Markdown: each turn's question, score, and every answer."""
    # Escaped apart from the link, as one ask's export is: the link must stay a link.
    heading = escape_raw_html(f"# Thread: {_one_line(thread.turns[0].question)}")
    lines: list[str] = []
    for turn in thread.turns:
        lines += [f"## Turn {turn.turn}: {_one_line(turn.question)}", ""]
        if turn.score is not None:
            lines += [f"**Consensus Score: {turn.score:.0f}/100** ({turn.verdict or ''})", ""]
        if turn.consensus and turn.consensus.explanation:
            lines += [turn.consensus.explanation, ""]
        for s in turn.skipped:
            lines += [f"*Skipped {s['model']}: {s['reason']}*", ""]
        for a in turn.answers:
            view = answer_view(a)
            lines += [f"### {a.model}", "",
                      f"*{view.label} · {view.latency} · {view.tokens} · {view.cost}*", ""]
            if view.error:
                lines += [f"> {view.error}", ""]
            lines += [a.text.strip() or "_(no answer)_", ""]
    body = escape_raw_html("\n".join(lines).rstrip())
    return f"{heading}\n\nThread: <{url}>\n\n{body}\n"

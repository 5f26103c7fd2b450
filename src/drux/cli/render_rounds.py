"""The terminal view of an ask's deliberation rounds and synthesis (``drux ask``, ``drux show``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from drux.cli.render import Column
from drux.records import AnswerStatus, AskRecord, RoundRecord, SynthesisRecord
from drux.types import AnswerAccumulator
from drux.verdicts import tone

if TYPE_CHECKING:
    from drux.services.rounds import RoundScored, RoundStarted

TONE_STYLE = {"high": "green", "mid": "yellow", "low": "red"}


def round_line(number: int, score: float | None, verdict: str | None, changed: list[str],
               status: str = "complete") -> Text:
    """"round 2: 71/100 — strong consensus; changed: smollm2-135m", as each round ends."""
    if score is None:
        text = Text(f"round {number}: {status if status != 'complete' else 'not scored'}",
                    style="yellow")
    else:
        text = Text(f"round {number}: {score:.0f}/100 — {verdict or 'n/a'}",
                    style=TONE_STYLE[tone(score)])
    if number > 1:
        text.append(f"; changed: {', '.join(changed)}" if changed else "; nobody changed")
    return text


def trend_line(rounds: list[RoundRecord]) -> Text:
    """"round 1: 24 → round 2: 71": how agreement moved."""
    from drux.services.rounds import trend

    return Text(f"Score trend: {trend(rounds)}", style="bold")


def rounds_panel(record: AskRecord) -> Panel | None:
    if not record.rounds:
        return None
    lines: list[RenderableType] = []
    for r in record.rounds:
        lines.append(round_line(r.round, r.score, r.verdict, r.changed, str(r.status)))
        for model, why in r.why.items():
            if why:
                lines.append(Text(f"  {model}: why: {why[:160]}", style="dim"))
    lines.append(trend_line(record.rounds))
    return Panel(Group(*lines), title="Deliberation rounds", expand=False)


def synthesis_panel(synthesis: SynthesisRecord | None) -> Panel | None:
    if synthesis is None:
        return None
    if synthesis.error:
        body = Text(f"no synthesis: {synthesis.error}", style="yellow")
    else:
        body = Text(synthesis.text)
    note = " — the positions side by side (no consensus)" if synthesis.side_by_side else ""
    return Panel(body, title=f"Synthesis, {synthesis.label}{note}", subtitle="not a vote",
                 expand=False)


def deliberation_parts(record: AskRecord) -> list[RenderableType]:
    return [p for p in (rounds_panel(record), synthesis_panel(record.synthesis)) if p is not None]


def live_round(event: RoundScored | RoundStarted, console: Console,
               columns: dict[str, Column]) -> dict[str, AnswerAccumulator] | None:
    """``drux ask --rounds``: a round's score is printed above the live columns as it ends;
    a new round empties the columns (returns their new accumulators)."""
    from drux.services.rounds import RoundScored

    if isinstance(event, RoundScored):
        c = event.consensus
        console.print(round_line(event.round, c.score, c.verdict, event.changed))
        return None
    answers = {m: AnswerAccumulator() for m in columns}
    for model, column in columns.items():
        column.parts, column.status = answers[model].parts, AnswerStatus.WAITING
        column.note = f"round {event.round}"
    return answers

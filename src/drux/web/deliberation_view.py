"""The result page's deliberation rounds (a timeline) and synthesis, and their Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from drux.records import AskRecord, RoundRecord, SynthesisRecord
from drux.verdicts import tone
from drux.web.markdown import render_markdown


@dataclass(slots=True)
class RoundView:
    round: int
    status: str
    score: str  # "71", or "—" for a round cut short
    tone: str  # the score pill's colour: high, mid, low (none: no score)
    verdict: str
    explanation: str
    changed: list[str] = field(default_factory=list)
    why: list[tuple[str, str]] = field(default_factory=list)  # (model, its one line)


@dataclass(slots=True)
class SynthesisView:
    label: str  # "synthesized by qwen2.5-1.5b"
    html: Markup
    side_by_side: bool
    error: str | None


def round_view(r: RoundRecord) -> RoundView:
    explanation = r.consensus.explanation if r.consensus is not None else ""
    return RoundView(round=r.round, status=str(r.status),
                     score="—" if r.score is None else f"{r.score:.0f}",
                     tone="none" if r.score is None else tone(r.score),
                     verdict=r.verdict or str(r.status), explanation=explanation,
                     changed=list(r.changed), why=[(m, w) for m, w in r.why.items() if w])


def synthesis_view(s: SynthesisRecord | None) -> SynthesisView | None:
    if s is None:
        return None
    return SynthesisView(label=s.label, html=render_markdown(s.text), side_by_side=s.side_by_side,
                         error=s.error)


def rounds_markdown(record: AskRecord) -> list[str]:
    """The rounds and the synthesis as Markdown lines, for the export."""
    lines: list[str] = []
    if record.rounds:
        lines += ["## Deliberation rounds", ""]
        for r in record.rounds:
            view = round_view(r)
            changed = f"; changed: {', '.join(view.changed)}" if view.changed else ""
            lines.append(f"- Round {view.round}: {view.score} ({view.verdict}){changed}")
            lines += [f"  - {model}: why: {why}" for model, why in view.why]
        lines.append("")
    s = record.synthesis
    if s is not None:
        note = " (the positions side by side: no consensus)" if s.side_by_side else ""
        lines += [f"## Synthesis, {s.label}{note}", "", "*Not a vote: the score is the panel's.*", ""]
        lines += [s.text.strip() if not s.error else f"> no synthesis: {s.error}", ""]
    return lines

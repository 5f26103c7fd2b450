"""What the pages show of a stored ask: answer columns, the consensus view, the exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from drux.hub.render import sanitize_html
from drux.records import (
    TRUNCATED_NOTE,
    AnswerRecord,
    AnswerStatus,
    AskRecord,
    ClaimRecord,
    ConsensusKind,
    ConsensusRecord,
    ContradictionRecord,
    PositionRecord,
    synthesis_label,
)
from drux.services.ask_events import substitute
from drux.web.deliberation_view import (
    RoundView,
    SynthesisView,
    round_view,
    rounds_markdown,
    synthesis_view,
)
from drux.web.markdown import escape_raw_html, render_markdown
from drux.web.svg import gauge, heatmap

STATUS_LABELS = {AnswerStatus.WAITING: "waiting", AnswerStatus.STREAMING: "streaming",
                 AnswerStatus.DONE: "done", AnswerStatus.FAILED: "failed",
                 AnswerStatus.PARTIAL: "interrupted"}


@dataclass(slots=True)
class AnswerView:
    model: str
    family: str | None
    status: str
    label: str
    html: Markup
    error: str | None
    substitute: str | None  # "answered by X instead of Y"
    latency: str
    tokens: str
    cost: str


@dataclass(slots=True)
class ConsensusView:
    score: float | None
    verdict: str
    explanation: str
    gauge: Markup
    heatmap: Markup
    shared: list[ClaimRecord] = field(default_factory=list)
    contradicted: list[ClaimRecord] = field(default_factory=list)
    unique: list[ClaimRecord] = field(default_factory=list)
    contradictions: list[ContradictionRecord] = field(default_factory=list)
    # The largest cluster's representative answer, or a judge's synthesis (labelled).
    answer_html: Markup = field(default_factory=Markup)
    answer_label: str = ""
    # The heatmap's numbers as table rows (model, values in column order), for screen readers.
    matrix_models: list[str] = field(default_factory=list)
    matrix_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    # Below the no-consensus threshold: no consensus answer, the competing positions instead.
    no_consensus: bool = False
    positions: list[PositionRecord] = field(default_factory=list)
    positions_line: str = ""
    # Every deliberation round (--rounds), and the synthesis: never a vote.
    rounds: list[RoundView] = field(default_factory=list)
    synthesis: SynthesisView | None = None


def _answer_label(c: ConsensusRecord) -> str:
    if c.consensus_kind == ConsensusKind.SYNTHESIS:
        return synthesis_label(c.synthesized_by or "the judge model")
    return f"answer of {c.consensus_model}" if c.consensus_model else ""


def fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def fmt_cost(value: float | None) -> str:
    if not value:
        return "$0"
    return f"${value:.4f}" if value >= 0.0001 else "<$0.0001"


def substitute_label(answered_by: str | None, model: str) -> str | None:
    if answered_by and answered_by != model:
        return f"answered by {answered_by} instead of {model}"
    return None


def answer_view(a: AnswerRecord) -> AnswerView:
    out_tokens = a.usage.output_tokens
    err = a.error
    label = STATUS_LABELS[a.status]
    return AnswerView(
        model=a.model, family=a.family, status=a.status,
        label=f"{label} · {TRUNCATED_NOTE}" if a.truncated else label, html=render_markdown(a.text),
        error=f"{err.type}: {err.message}" if err else None,
        substitute=substitute_label(substitute(a.answered_by, a.substituted_for, a.deployment),
                                    a.model),
        latency=fmt_seconds(a.timings.total_s),
        tokens=f"{out_tokens} tokens" if out_tokens else "—",
        cost=fmt_cost(a.cost_usd),
    )


def _matrix_rows(matrix: dict[str, dict[str, Any]], names: list[str]
                 ) -> list[tuple[str, list[str]]]:
    def cell(a: str, b: str) -> str:
        raw = matrix.get(a, {}).get(b)
        return "—" if a == b or raw is None else f"{float(raw):.2f}"

    return [(a, [cell(a, b) for b in names]) for a in names]


def consensus_view(record: AskRecord) -> ConsensusView | None:
    c = record.consensus
    if not c:
        return None
    claims = c.claims
    matrix = c.matrix
    names = [m for m in record.models if m in matrix]
    return ConsensusView(
        score=c.score, verdict=c.verdict or "", explanation=c.explanation,
        gauge=gauge(c.score), heatmap=heatmap(matrix, record.models),
        shared=[cl for cl in claims if len(cl.supported_by) > 1 and not cl.contradicted_by],
        contradicted=[cl for cl in claims if cl.contradicted_by],
        # One model's claim, also when a cut answer may not have reached it (noted beside it).
        unique=[cl for cl in claims if len(cl.supported_by) == 1 and not cl.contradicted_by],
        contradictions=c.contradictions,
        answer_html=Markup(render_markdown(c.consensus_answer))
        if c.consensus_answer and not c.without_consensus else Markup(""),
        answer_label=_answer_label(c),
        matrix_models=names if len(names) > 1 else [],
        matrix_rows=_matrix_rows(matrix, names) if len(names) > 1 else [],
        no_consensus=c.without_consensus,
        positions=_positions(c) if c.without_consensus else [],
        positions_line=c.positions_line() if c.without_consensus else "",
        rounds=[round_view(r) for r in record.rounds], synthesis=synthesis_view(record.synthesis),
    )


def _positions(c: ConsensusRecord) -> list[PositionRecord]:
    """The positions, or for rows stored before positions existed, the groups as positions."""
    if c.positions:
        return list(c.positions)
    return [PositionRecord(label=f"group {i}", models=g) for i, g in enumerate(c.clusters, 1)]


def safe_html(html: str | None) -> Markup:
    """HTML the hub already sanitized, cleaned once more before it is marked safe."""

    return Markup(sanitize_html(html)) if html else Markup("")


def faq_view(item: dict[str, Any]) -> dict[str, Any]:
    """One FAQ entry for the article page: the editor's and the panel's answers, flagged."""
    return {**item, "answer_html": render_markdown(item.get("answer") or ""),
            "consensus_html": safe_html(item.get("consensus_html"))}


def to_markdown(record: AskRecord, url: str) -> str:
    """A Markdown export of a stored ask, for pasting into notes or issues."""
    # The question is one heading line, so the rest is escaped as one document after the link.
    heading = escape_raw_html(f"# {' '.join(record.question.splitlines())}")
    lines: list[str] = []
    if record.score is not None:
        lines += [f"**Consensus Score: {record.score:.0f}/100** ({record.verdict or ''})", ""]
    consensus = record.consensus
    if consensus and consensus.explanation:
        lines += [consensus.explanation, ""]
    if consensus and consensus.without_consensus:
        lines += [f"**No consensus.** Positions: {consensus.positions_line()}", ""]
    for a in record.answers:
        view = answer_view(a)
        head = f"## {a.model}"
        if view.substitute:
            head += f" ({view.substitute})"
        lines += [head, "", f"*{view.label} · {view.latency} · {view.tokens} · {view.cost}*", ""]
        if view.error:
            lines += [f"> {view.error}", ""]
        lines += [a.text.strip() or "_(no answer)_", ""]
    lines += rounds_markdown(record)
    body = escape_raw_html("\n".join(lines).rstrip())
    return f"{heading}\n\nResult: <{url}>\n\n{body}\n"

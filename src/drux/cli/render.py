"""Rich rendering for the terminal: live side-by-side columns, then the score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from drux.records import (
    TRUNCATED_NOTE,
    AnswerRecord,
    AnswerStatus,
    AskRecord,
    ClaimRecord,
    ConsensusKind,
    ConsensusRecord,
    synthesis_label,
)
from drux.verdicts import tone

# C0/C1 control characters but newline and tab: questions (the web API takes them from
# anyone), answers (from upstreams) and imported articles must not drive the terminal
# (escape sequences can retitle it, rewrite the screen or set the clipboard).
_CONTROLS = {c: None for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if c not in (9, 10)}


def clean(value: Any) -> Any:
    """``value`` with control characters removed from every string in it (dicts, lists)."""
    if isinstance(value, str):
        return value.translate(_CONTROLS)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def plain(value: object) -> Text:
    """A table cell shown as it is. Rich reads ``[...]`` in a ``str`` cell as markup: one stored
    question, article title or key name holding ``[/]`` made the whole table fail."""
    return Text(clean(str(value)))


STATUS_STYLE = {
    AnswerStatus.WAITING: "dim", AnswerStatus.STREAMING: "cyan", AnswerStatus.DONE: "green",
    AnswerStatus.FAILED: "red", AnswerStatus.PARTIAL: "yellow",
}


@dataclass
class Column:
    model: str
    family: str
    status: AnswerStatus = AnswerStatus.WAITING
    parts: list[str] = field(default_factory=list)
    note: str = ""
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def columns_table(columns: list[Column], *, tail_lines: int = 14) -> Table:
    table = Table(expand=True, show_lines=False, pad_edge=False)
    for col in columns:
        table.add_column(Text(f"{col.model}\n{col.family}", style="bold"), ratio=1,
                         overflow="fold")
    cells: list[RenderableType] = []
    for col in columns:
        status = Text(col.status, style=STATUS_STYLE.get(col.status, ""))
        if col.note:
            status.append(f"  {clean(col.note)}", style="yellow")
        body = clean(col.text).strip()
        lines = body.splitlines()
        if len(lines) > tail_lines:
            body = "…\n" + "\n".join(lines[-tail_lines:])
        cells.append(Group(status, Text(body)))
    table.add_row(*cells)
    return table


def timings_table(answers: list[AnswerRecord]) -> RenderableType:
    """Each model's status, timings and cost; at the width printed, model ids stay whole."""
    from drux.cli.tables import Cell, Col, FittedTable

    cols = [Col("model"), Col("status", "text", drop=6),
            *(Col(name, drop=n, justify="right") for name, n in
              (("first token", 3), ("total", 4), ("tokens", 2), ("tok/s", 1), ("cost", 5)))]
    rows: list[list[Cell]] = []
    for a in answers:
        t = a.timings
        status = str(a.status)
        if a.substituted_for:
            status += f" (answered by {a.answered_by or a.deployment} instead)"
        if a.error:
            status += f": {a.error.type}"
        if a.truncated:
            status += f" ({TRUNCATED_NOTE})"
        tps = t.tokens_per_s
        rows.append([plain(a.model), Text(status, style=STATUS_STYLE.get(a.status, "")),
                     _fmt_s(t.first_token_s), _fmt_s(t.total_s),
                     str(a.usage.output_tokens or 0), "-" if not tps else f"{tps:.1f}",
                     f"${a.cost_usd or 0:.4f}"])
    return FittedTable(cols, rows, title="Models")


TONE_STYLE = {"high": "bold green", "mid": "bold yellow", "low": "bold red"}


def score_panel(record: AskRecord, explanation: str | None = None) -> Panel:
    consensus = record.consensus or ConsensusRecord()
    score = consensus.score
    verdict = consensus.verdict or "n/a"
    if score is None:
        headline = Text(f"Consensus Score: n/a ({consensus.reason or 'not scored'})",
                        style="bold yellow")
    else:
        headline = Text(f"Consensus Score: {score:.0f}/100 — {verdict}", style=TONE_STYLE[tone(score)])
    lines: list[RenderableType] = [headline]
    # Unscored, the explanation only repeats the reason the headline gives.
    if explanation and not (score is None and consensus.reason and consensus.reason in explanation):
        lines.append(Text(explanation))
    if consensus.without_consensus:
        lines.append(Text(f"No consensus. Positions: {consensus.positions_line()}", style="bold"))
    else:
        for i, cluster in enumerate(consensus.clusters, 1):
            lines.append(Text(f"  group {i}: {', '.join(cluster)}"))
    for c in consensus.contradictions[:5]:
        pair = " vs ".join(c.models)
        why = "; ".join(c.reasons or c.kinds)
        lines.append(Text(f"  contradiction: {pair} ({why})", style="red"))
    if consensus.claims:
        lines.append(Text("Claims:", style="bold"))
    lines += [_claim_line(claim) for claim in consensus.claims[:10]]
    if consensus.consensus_answer and not consensus.without_consensus:
        kind = consensus.consensus_kind or ConsensusKind.REPRESENTATIVE
        how = (f"{kind}, {consensus.consensus_model or ''}" if kind != ConsensusKind.SYNTHESIS
               else synthesis_label(consensus.synthesized_by or "the judge model"))
        lines.append(Text(f"Consensus answer ({how}): {consensus.consensus_answer[:300]}"))
    return Panel(Group(*lines), title=f"ask {record.id}", expand=False)


def _claim_line(claim: ClaimRecord) -> Text:
    if claim.contradicted_by:
        mark = (f"✓ {', '.join(claim.supported_by)} ✗ contradicted by "
                f"{', '.join(claim.contradicted_by)}")
        style = "red"
    elif len(claim.supported_by) == 1:
        mark, style = "· only " + ", ".join(claim.supported_by), "dim"
    else:
        mark, style = "✓ " + ", ".join(claim.supported_by), "green"
    if claim.not_reached_by:
        mark += f"; not reached by {', '.join(claim.not_reached_by)} ({TRUNCATED_NOTE})"
    return Text(f"  {claim.text[:110]}  [{mark}]", style=style)


def clean_record(record: AskRecord) -> AskRecord:
    """The record with control characters removed from every string in it."""
    data = clean(record.model_dump(mode="json"))
    return AskRecord.model_validate(data)


def record_view(record: AskRecord, explanation: str | None = None, *,
                show_skipped: bool = True) -> Group:
    """The whole ask; ``show_skipped=False`` when the skipped models were already printed.

    Without an ``explanation`` (``drux show``), the one stored with the score is shown, the
    line ``drux ask`` printed when the score landed."""
    from drux.cli.render_rounds import deliberation_parts  # it draws on this module

    if explanation is None and record.consensus is not None:
        explanation = record.consensus.explanation or None
    record, explanation = clean_record(record), clean(explanation)
    cols = []
    for a in record.answers:
        col = Column(a.model, a.family or "", a.status, [a.text])
        if a.error:
            col.note = a.error.message or ""
        elif a.truncated:
            col.note = TRUNCATED_NOTE
        elif a.substituted_for:
            col.note = f"answered by {a.answered_by or a.deployment} instead"
        cols.append(col)
    parts: list[RenderableType] = [Text(f"Q: {record.question}", style="bold")]
    for s in record.skipped if show_skipped else []:
        parts.append(Text(f"skipped {s['model']}: {s['reason']}", style="yellow"))
    parts += [columns_table(cols, tail_lines=40), timings_table(record.answers),
              score_panel(record, explanation), *deliberation_parts(record)]
    return Group(*parts)

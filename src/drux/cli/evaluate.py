"""``drux eval agreement`` and ``drux eval calibration``: the Consensus Score on public
human-labelled data (dev splits only; held-out splits are for judging the work)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from drux.cli import app, fail

eval_app = typer.Typer(help="Evaluate the Consensus Score on benchmark data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

SHARED = Path("../shared/bench")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _judge(services: Any, backend: str, judge_model: str | None) -> Any:
    """The judge for the judge/hybrid backends: a configured model, by default the offline
    Qwen2.5-Coder-1.5B (``make models-judge``)."""
    from drux.consensus.engine import BACKENDS, NEEDS_JUDGE

    if backend not in BACKENDS:
        raise fail(f"unknown consensus backend {backend!r}; choose from {', '.join(BACKENDS)}", 2)
    if backend not in NEEDS_JUDGE:
        return None
    from drux.services.judge import make_judge

    return asyncio.run(make_judge(services, judge_model))


@eval_app.command("agreement")
def agreement(
    data: Annotated[Path | None, typer.Option(help="Benchmark folder (dev_sets.jsonl, dev_pairs.jsonl).")] = None,
    backend: Annotated[str, typer.Option(help="fast (default), cross, judge or hybrid.")] = "fast",
    judge: Annotated[str | None, typer.Option(help="Judge model id (judge/hybrid).")] = None,
    split: Annotated[str, typer.Option(help="Which split's files to read.")] = "dev",
    limit: Annotated[int | None, typer.Option(min=1, help="Sample this many items per task.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """AUROC of the score for telling agreeing answer sets and pairs from conflicting ones."""
    from drux.consensus.evaluate import eval_agreement, format_agreement
    from drux.services import Services

    folder = data or SHARED / "agreement"
    if not folder.is_dir():
        raise fail(f"no benchmark folder at {folder}; pass --data DIR")
    services = Services.from_settings()
    judge_obj = _judge(services, backend, judge)
    with _progress(f"agreement ({backend})") as progress:
        report = eval_agreement(folder, backend, limit, split=split, judge=judge_obj,
                                progress=progress)
    typer.echo(json.dumps(report, indent=2) if as_json else format_agreement(report))


@eval_app.command("calibration")
def calibration(
    data: Annotated[Path | None, typer.Option(help="NQ-open style JSONL (question, answer list).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="First N questions.")] = None,
    panel: Annotated[str | None, typer.Option(help="Panel to ask (default: the default panel).")] = None,
    answers: Annotated[Path | None, typer.Option(help="Where recorded answers are cached.")] = None,
    backend: Annotated[str, typer.Option(help="fast (default), cross, judge or hybrid.")] = "fast",
    judge: Annotated[str | None, typer.Option(help="Judge model id (judge/hybrid).")] = None,
    max_tokens: Annotated[int, typer.Option(
        "--max-tokens", min=1, max=512, help="Answer length cap per model.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Does a high score mean the consensus answer is right? Accuracy, AUROC, selective accuracy.

    The panel's answers are recorded once (cached, resumable; see --answers), then scored."""
    from drux.consensus.calibration import (
        eval_calibration,
        format_calibration,
        load_questions,
        panel_answerer,
        record_answers,
    )
    from drux.services import Services

    data_file = data or SHARED / "calibration" / "nq_open_dev.jsonl"
    if not data_file.is_file():
        raise fail(f"no data file at {data_file}; pass --data FILE")
    services = Services.from_settings()
    resolution = services.resolve(None, panel)
    judge_obj = _judge(services, backend, judge)  # a bad --backend/--judge: before the panel runs
    members = {s.id: services.provider(s.id) for s in resolution.members}
    families = {s.id: s.family for s in resolution.members}
    cache = answers or services.settings.data_dir / "eval" / (
        f"calibration-{data_file.stem}-{resolution.panel}-{max_tokens}.jsonl")
    questions = load_questions(data_file, limit)
    answerer = panel_answerer(members, families, max_tokens=max_tokens)
    with _progress("recording panel answers") as progress:
        asyncio.run(record_answers(questions, cache, answerer, progress))
    report = eval_calibration(data_file, cache, limit=limit, backend=backend, judge=judge_obj)
    report["answers_file"] = str(cache)
    typer.echo(json.dumps(report, indent=2) if as_json else format_calibration(report))


@eval_app.command("deliberation")
def deliberation(
    data: Annotated[Path | None, typer.Option(help="NQ-open style JSONL (question, answer list).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="First N questions.")] = None,
    panel: Annotated[str | None, typer.Option(help="Panel to ask (default: the default panel).")] = None,
    synthesizer: Annotated[str | None, typer.Option(help="Model that writes the synthesis.")] = None,
    report_only: Annotated[bool, typer.Option(
        "--report-only", help="Score what is recorded; ask no model.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Does deliberation help? Round 1 vs round 2 and synthesis vs representative answer.

    Round 1 is the calibration run's recorded answers (recorded first if missing, as
    `drux eval calibration` does); round 2 and the synthesis are recorded once beside it."""
    from drux.consensus.calibration import load_questions, panel_answerer, record_answers
    from drux.consensus.rounds_eval import (
        eval_deliberation,
        format_deliberation,
        record_deliberation,
    )
    from drux.services import Services
    from drux.services.synthesis import choose_synthesizer

    data_file = data or SHARED / "calibration" / "nq_open_dev.jsonl"
    if not data_file.is_file():
        raise fail(f"no data file at {data_file}; pass --data FILE")
    services = Services.from_settings()
    resolution = services.resolve(None, panel)
    members = {s.id: services.provider(s.id) for s in resolution.members}
    families = {s.id: s.family for s in resolution.members}
    writer = choose_synthesizer(services, list(members), synthesizer)
    providers = {**members, writer: members.get(writer) or services.provider(writer)}
    folder = services.settings.data_dir / "eval"
    round1 = folder / f"calibration-{data_file.stem}-{resolution.panel}-32.jsonl"
    rounds = folder / f"deliberation-{data_file.stem}-{resolution.panel}-{writer}.jsonl"
    questions = load_questions(data_file, limit)
    if not report_only:
        with _progress("recording round 1") as progress:
            asyncio.run(record_answers(questions, round1, panel_answerer(members, families),
                                       progress))
        with _progress("recording round 2 and synthesis") as progress:
            asyncio.run(record_deliberation(questions, round1, rounds, providers, writer, progress))
    report = eval_deliberation(data_file, round1, rounds, limit=limit)
    report.update(round1_file=str(round1), rounds_file=str(rounds), synthesizer=writer)
    typer.echo(json.dumps(report, indent=2) if as_json else format_deliberation(report))

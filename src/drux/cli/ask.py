"""``drux ask``: live columns in the terminal, or one JSON record."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from drux.cli import app, flags
from drux.cli.stdin import piped_text

# How `drux ask` spells the AskOptions fields in its errors.
ASK_FLAGS = {"question": "the question", "models": "--models", "panel": "--panel",
             "max_tokens": "--max-tokens", "timeout": "--timeout",
             "temperature": "--temperature", "consensus_backend": "--backend",
             "judge_model": "--judge", "system": "--system", "context": "the text piped in",
             "continue_from": "--cid", "rounds": "--rounds", "synthesizer": "--synthesizer"}


def _split(models: str | None) -> list[str] | None:
    if models is None:
        return None
    return [m for m in (p.strip() for p in models.split(",")) if m]


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(
        help="The question to put to the panel; - (or none, with text piped in) reads it "
             "from stdin. Text piped in with a question is its context.")] = None,
    models: Annotated[str | None, typer.Option("--models", "-m",
                                               help="Comma-separated model ids.")] = None,
    panel: Annotated[str | None, typer.Option("--panel", "-p", help="A named panel.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON record.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds each model may take.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Answer length cap.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    backend: Annotated[str, typer.Option(help="Consensus backend: fast (default), cross, judge or hybrid.")] = "fast",
    judge: Annotated[str | None, typer.Option(
        help="Judge model for the judge/hybrid backends (default qwen2.5-1.5b).")] = None,
    system: Annotated[str | None, typer.Option(
        help="System prompt for this ask (wins over the panel's and the model's).")] = None,
    continue_last: Annotated[bool, typer.Option(
        "--continue", "-c", help="A follow-up: continue the thread of the last ask made "
                                 "from the CLI (its models, each with its own earlier answers).")
    ] = False,
    cid: Annotated[str | None, typer.Option(
        "--cid", help="A follow-up in the thread of this ask or thread id (or prefix).")] = None,
    rounds: Annotated[int, typer.Option(
        help="Deliberation rounds (1-4): from round 2 each model reads the others' answers, "
             "anonymised, and answers again.")] = 1,
    synthesize: Annotated[bool, typer.Option(
        "--synthesize", help="One model writes one answer from the panel's (not a vote).")] = False,
    synthesizer: Annotated[str | None, typer.Option(
        help="The model that writes the synthesis (implies --synthesize; default "
             "qwen2.5-1.5b when installed, else the strongest panel member).")] = None,
) -> None:
    """Ask every model of a panel the same question and score their agreement."""
    from drux.cli.threads import continue_from
    from drux.services import Services
    from drux.services.ask import AskOptions

    question, context = _question_and_context(question)
    services = Services.from_settings()
    follows = continue_from(services, continue_last, cid)
    with flags(ASK_FLAGS):
        opts = AskOptions(question=question, models=_split(models), panel=panel,
                          max_tokens=max_tokens, timeout=timeout, temperature=temperature,
                          consensus_backend=backend, judge_model=judge,  # type: ignore[arg-type]
                          system=system, context=context, continue_from=follows,
                          rounds=rounds, synthesize=synthesize, synthesizer=synthesizer)
    if models is not None and not opts.models:
        from drux.errors import InputError

        raise InputError("--models needs at least one model name")
    runner = _run_json if as_json else _run_live
    code = asyncio.run(runner(services, opts))
    raise typer.Exit(code)


def _question_and_context(question: str | None) -> tuple[str, str | None]:
    """The question, from the argument or stdin, and the text piped in as its context."""
    from drux.errors import InputError

    if question == "-":
        text = piped_text()
        if text is None:
            raise InputError("`drux ask -` reads the question from a pipe or a file, and "
                             "stdin is neither: pipe it in, or give it as an argument")
        if not text.strip():
            raise InputError("`drux ask -` read nothing from stdin: the question is empty")
        return text, None
    piped = piped_text()
    if question is None:
        if piped is None or not piped.strip():
            raise InputError("Missing argument 'QUESTION': give the question, or pipe it in "
                             "(see drux ask --help)")
        return piped, None
    # Blank piped text (`true | drux ask ...`) is no context.
    return question, piped if piped and piped.strip() else None


async def _run_json(services: object, opts: object) -> int:
    from drux.records import AskStatus
    from drux.services import Services
    from drux.services.ask import AskCreated, AskDone, AskOptions, run_ask

    assert isinstance(services, Services) and isinstance(opts, AskOptions)
    ask_id, status = None, AskStatus.FAILED
    try:
        async for event in run_ask(services, opts):
            if isinstance(event, AskCreated):
                ask_id = event.ask_id
            elif isinstance(event, AskDone):
                status = event.status
        record = services.store.asks.get(ask_id) if ask_id else None
        typer.echo(record.to_json() if record else json.dumps(None))
    finally:
        await services.aclose()
    return 0 if status == AskStatus.COMPLETE else 1


async def _run_live(services: object, opts: object) -> int:
    from rich.console import Console
    from rich.live import Live

    from drux.cli.render import Column, columns_table, plain, record_view
    from drux.cli.render_rounds import live_round
    from drux.cli.threads import thread_lines
    from drux.panel import Failed, Finished, Started, Token
    from drux.records import AnswerStatus, AskStatus
    from drux.services import Services
    from drux.services.ask import AskCreated, AskDone, AskOptions, Scored, run_ask
    from drux.services.rounds import RoundScored, RoundStarted
    from drux.types import AnswerAccumulator

    assert isinstance(services, Services) and isinstance(opts, AskOptions)
    console = Console()
    columns: dict[str, Column] = {}
    answers: dict[str, AnswerAccumulator] = {}
    ask_id, status, explanation = None, AskStatus.FAILED, None
    live = Live(console=console, refresh_per_second=8, transient=True)
    try:
        with live:
            async for event in run_ask(services, opts):
                if isinstance(event, AskCreated):
                    ask_id = event.ask_id
                    answers = {m: AnswerAccumulator() for m in event.models}
                    # Each column shows its accumulator's parts (cleared in place on restart).
                    columns = {m: Column(m, event.families[m], parts=answers[m].parts)
                               for m in event.models}
                    for s in event.skipped:
                        console.print(plain(f"skipped {s['model']}: {s['reason']}"),
                                      style="yellow")
                    for line in thread_lines(event.thread):
                        console.print(plain(line))
                elif isinstance(event, Started):
                    columns[event.model].status = AnswerStatus.STREAMING
                elif isinstance(event, Token):
                    answers[event.model].add(event)
                    if event.substituted_for:
                        columns[event.model].note = (
                            f"answered by {event.answered_by or event.deployment} instead")
                elif isinstance(event, Finished):
                    columns[event.model].status = AnswerStatus.DONE
                elif isinstance(event, Failed):
                    columns[event.model].status = AnswerStatus.FAILED
                    columns[event.model].note = str(event.error)
                elif isinstance(event, Scored):
                    explanation = event.explanation
                elif isinstance(event, RoundScored | RoundStarted):
                    answers = live_round(event, console, columns) or answers
                elif isinstance(event, AskDone):
                    status = event.status
                live.update(columns_table(list(columns.values())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        if ask_id:
            console.print(f"[yellow]interrupted: saved what was received as partial ask {ask_id}[/]")
        raise
    finally:
        await services.aclose()
    record = services.store.asks.get(ask_id) if ask_id else None
    if record:
        # The skipped models were printed as the ask started; once is enough.
        console.print(record_view(record, explanation, show_skipped=False))
    if status != AskStatus.COMPLETE:
        typer.echo("error: no model produced an answer", err=True)
        return 1
    return 0

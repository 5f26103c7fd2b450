"""Follow-ups in the terminal: which thread ``drux ask -c``/``--cid`` continues, the lines
that say so, and ``drux thread`` (every turn of a thread with its score, or the whole thread as JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from drux.cli import app

if TYPE_CHECKING:
    from drux.records import ThreadPosition
    from drux.services import Services


def continue_from(services: Services, last: bool, cid: str | None) -> str | None:
    """The ask whose thread ``drux ask`` continues (None: a new ask).

    ``-c`` continues the last ask made *from the CLI* (as ``llm -c`` continues the latest
    conversation in its own log): asks made on the web belong to accounts, and the shell
    must not pick up someone's private thread because it happened to be the newest.
    ``--cid`` names any ask or thread (or a unique prefix); it wins over ``-c``."""
    if cid is not None:
        return cid
    if not last:
        return None
    from drux.errors import InputError
    from drux.records import AskSource

    ask_id = services.store.threads.last_ask_id(AskSource.CLI)
    if ask_id is None:
        raise InputError("-c continues the last ask made from the CLI, and there is none "
                         "yet: ask a question first")
    return ask_id


def thread_lines(position: ThreadPosition | None) -> list[str]:
    """What ``drux ask`` prints as a follow-up starts: its turn, and any trimmed context."""
    if position is None:
        return []
    lines = [f"follow-up: turn {position.turn} of thread {position.id}"]
    for model, dropped in sorted(position.trimmed.items()):
        turns = "turn" if dropped == 1 else "turns"
        lines.append(f"{model}: left out its {dropped} oldest {turns} of this thread to fit "
                     "its context window")
    return lines


@app.command()
def thread(
    thread_id: Annotated[str, typer.Argument(help="An ask or thread id (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="The whole thread as JSON.")] = False,
) -> None:
    """A follow-up thread: every turn with its score (or, with --json, the whole thread)."""
    from rich.console import Console

    from drux.cli.render import plain
    from drux.services import Services
    from drux.services.threads import find_thread

    record = find_thread(Services.from_settings(), thread_id)
    if as_json:
        typer.echo(record.to_json())
        return
    console = Console()
    for ask in record.turns:
        score = "n/a" if ask.score is None else f"{ask.score:.0f}/100 {ask.verdict or ''}".strip()
        console.print(plain(f"turn {ask.turn} · {ask.id} · {ask.status} · score {score}"))
        console.print(plain(f"  Q: {ask.question}"))
        for s in ask.skipped:
            console.print(plain(f"  skipped {s['model']}: {s['reason']}"), style="yellow")

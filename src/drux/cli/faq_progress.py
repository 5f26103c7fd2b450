"""Progress of ``drux hub faq`` on stderr, so stdout keeps one result per question.

On a terminal: one live line per question (which question of how many, the models still
answering, seconds so far) that gives way to the question's score line when it lands.
Elsewhere: plain lines, one per step ("question 2 of 3: ...", "asking ...", "alpha: done
in 1.2s").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from drux.cli.render import clean
from drux.panel import Failed, Finished, Started
from drux.services.ask import AskCreated, AskDone

if TYPE_CHECKING:
    from drux.hub.faq import FaqStep


class FaqProgress:
    """Called with each ``FaqStep``; ``close()`` when the run ends, however it ends."""

    def __init__(self, *, plain_lines: bool = True, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live_mode = self.console.is_terminal
        self.plain_lines = plain_lines  # off (--json): only a terminal is shown progress
        self.live: Live | None = None
        self.heading = ""
        self.waiting: list[str] = []
        self.answering: list[str] = []
        self.ended: list[str] = []
        self.started_at = 0.0

    def __call__(self, step: FaqStep) -> None:
        event = step.event
        if isinstance(event, AskCreated):
            self.heading = f"question {step.number} of {step.total}: {clean(step.question)}"
            self.waiting, self.answering, self.ended = list(event.models), [], []
            self.started_at = time.monotonic()
            self._say(self.heading)
            self._say(f"  asking {', '.join(event.models)}")
            self._start()
        elif isinstance(event, Started) and event.model in self.waiting:
            self.waiting.remove(event.model)
            self.answering.append(event.model)
        elif isinstance(event, Finished | Failed):
            for group in (self.waiting, self.answering):
                if event.model in group:
                    group.remove(event.model)
            how = (f"done in {event.timings.total_s or 0:.1f}s" if isinstance(event, Finished)
                   else f"failed ({event.error.code})")
            self.ended.append(f"{event.model} {how}")
            self._say(f"  {event.model}: {how}")
        elif isinstance(event, AskDone):
            self.close()  # the score line follows on stdout

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _say(self, line: str) -> None:
        if not self.live_mode and self.plain_lines:
            typer.echo(line, err=True)

    def _start(self) -> None:
        if self.live_mode and self.live is None:
            self.live = Live(get_renderable=self._render, console=self.console,
                             refresh_per_second=4, transient=True)
            self.live.start()

    def _render(self) -> Text:
        seconds = time.monotonic() - self.started_at
        line = Text(self.heading, style="bold")
        busy = self.answering + self.waiting
        line.append(f"\n  {seconds:.0f}s  answering: {', '.join(busy) or 'none'}", style="cyan")
        if self.ended:
            line.append(f"  · {', '.join(self.ended)}", style="dim")
        return line

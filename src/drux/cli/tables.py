"""Lists of records (``drux models``, ``history``, ``status``, ``hub list``, ``keys list``)
for a terminal and for a pipe.

On a terminal the table fits the width: an id is never wrapped or cut, other cells wrap
between words, and when even that cannot fit, the least useful columns are left out
(Rich alone shrinks every column evenly: "re…", "202…", ids split over two lines).
Anywhere else (a pipe, a file) each record is one line of tab-separated fields, without
a header or styles, whole, for ``cut``, ``grep`` and ``awk``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box as boxes
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from drux.cli.render import clean

# How a column may wrap: "id" never (ids, dates, numbers), "words" only between words
# (lists of ids, short values), "text" anywhere (free text), but it keeps TEXT_WIDTH
# characters (or all it needs) before other columns are left out: a title or a question
# wrapped to a word per line is no longer readable.
Kind = Literal["id", "words", "text"]
TEXT_WIDTH = 16


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    kind: Kind = "id"
    # Left out when the width runs out: 1 first, then 2, ...; None (the record's id): never.
    drop: int | None = None
    justify: Literal["left", "right"] = "left"


Cell = str | Text


def print_records(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], *,
                  title: str | None = None, plain_rows: Sequence[Sequence[str]] | None = None,
                  box: boxes.Box | None = boxes.HEAVY_HEAD, pad_edge: bool = True) -> None:
    """A table on a terminal; otherwise one tab-separated line per record (``plain_rows``
    when a pipe should get fuller values than the table shows)."""
    if not sys.stdout.isatty():
        for row in plain_rows if plain_rows is not None else rows:
            sys.stdout.write("\t".join(_field(cell) for cell in row) + "\n")
        sys.stdout.flush()
        return
    console = Console()
    console.print(fit_table(console.width, cols, rows, title=title, box=box, pad_edge=pad_edge))


def _field(cell: Cell) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(clean(text).replace("\t", " ").splitlines())


def fit_table(width: int, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], *,
              title: str | None = None, box: boxes.Box | None = boxes.HEAVY_HEAD,
              pad_edge: bool = True) -> Table:
    """The table at most ``width`` columns wide, leaving columns out as needed."""
    texts = [[c if isinstance(c, Text) else Text(clean(c)) for c in row] for row in rows]
    kept = list(range(len(cols)))
    while True:
        lows = [_low(cols[i], [row[i] for row in texts]) for i in kept]
        highs = [_high(cols[i], [row[i] for row in texts]) for i in kept]
        room = width - _overhead([cols[i] for i in kept], box, pad_edge)
        droppable = [i for i in kept if cols[i].drop is not None]
        if sum(lows) <= room or not droppable:
            break
        kept.remove(min(droppable, key=lambda i: cols[i].drop or 0))
    table = _table([cols[i] for i in kept], title, box, pad_edge, _share(lows, highs, room))
    for row in texts:
        table.add_row(*(row[i] for i in kept))
    return table


class FittedTable:
    """A table fitted to the width it is printed at (``fit_table``), for a view built
    before that width is known (``drux ask``, ``drux show``)."""

    def __init__(self, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], *,
                 title: str | None = None) -> None:
        self.cols, self.rows, self.title = cols, rows, title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield fit_table(options.max_width, self.cols, self.rows, title=self.title)


def _table(cols: Sequence[Col], title: str | None, box: boxes.Box | None, pad_edge: bool,
           widths: Sequence[int] | None) -> Table:
    table = Table(title=title, box=box, pad_edge=pad_edge)
    for n, col in enumerate(cols):
        table.add_column(col.name, justify=col.justify, no_wrap=col.kind == "id",
                         overflow="fold", width=None if widths is None else widths[n])
    return table


def _overhead(cols: Sequence[Col], box: boxes.Box | None, pad_edge: bool) -> int:
    """Borders and padding: the width of this table with one-character columns, less them."""
    table = _table(cols, None, box, pad_edge, [1] * len(cols))
    console = Console(width=10_000)
    return Measurement.get(console, console.options, table).maximum - len(cols)


def _words(text: Text) -> list[int]:
    return [cell_len(w) for w in text.plain.split()] or [0]


def _low(col: Col, cells: list[Text]) -> int:
    """The narrowest the column may be."""
    if col.kind == "id":
        return max(cell_len(line) for t in [Text(col.name), *cells] for line in t.plain.split("\n"))
    if col.kind == "text":
        return min(_high(col, cells), TEXT_WIDTH)
    return max(max(_words(t)) for t in [Text(col.name), *cells])


def _high(col: Col, cells: list[Text]) -> int:
    """The width the column would take with room to spare."""
    return max(cell_len(line) for t in [Text(col.name), *cells] for line in t.plain.split("\n"))


def _share(lows: list[int], highs: list[int], room: int) -> list[int] | None:
    """Widths from ``lows`` up, the columns furthest from their natural width served
    first; None when every column fits whole."""
    if sum(highs) <= room:
        return None
    widths = list(lows)
    spare = room - sum(widths)
    while spare > 0:
        n = max(range(len(widths)), key=lambda i: highs[i] - widths[i])
        if highs[n] <= widths[n]:
            break
        widths[n] += 1
        spare -= 1
    return widths

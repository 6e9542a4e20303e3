"""Reporter: how stages talk to the terminal (tables, notes, progress bars).

Stages never print directly; they ask the run's reporter, so ``--quiet`` and
tests can silence everything in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from panelml.pipeline.progress import live_bar, plain_lines

T = TypeVar("T")


class Reporter:
    """Terminal output of a run; ``quiet=True`` prints only warnings."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        quiet: bool = False,
        progress_console: Console | None = None,
    ) -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.quiet = quiet
        self.progress_console = progress_console or Console(stderr=True, highlight=False)

    def info(self, message: str) -> None:
        """A short line of progress information."""
        if not self.quiet:
            self.console.print(escape(message))

    def warn(self, message: str) -> None:
        """A warning the user should see even in quiet mode."""
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        caption: str | None = None,
    ) -> None:
        """Print a table; floats are shown with 4 significant decimals."""
        if self.quiet:
            return
        table = Table(title=title, caption=caption, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(_cell(value)) for value in row))
        self.console.print(table)

    def progress(
        self, items: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        """Iterate over ``items`` reporting progress on the progress console (stderr):
        a live bar with an ETA in a terminal, a few plain lines otherwise, nothing
        when quiet."""
        if self.quiet:
            yield from items
        elif self.progress_console.is_terminal:
            yield from live_bar(items, description, total, self.progress_console)
        else:
            yield from plain_lines(items, description, total, self.progress_console)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    return str(value)

"""Progress of a stage's tasks: a live bar with an ETA in a terminal, plain lines elsewhere.

The reporter chooses between the two (and nothing at all with ``--quiet``).
Both write to the console they are given - the reporter's stderr console, so
that stdout carries only what a script may parse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

LINE_EVERY_SECONDS = 30.0
"""Plain mode prints a line at least this often while tasks finish..."""
LINE_EVERY_SHARE = 0.1
"""...and whenever another tenth of the tasks has finished."""


def live_bar(
    items: Iterable[T], description: str, total: int | None, console: Console
) -> Iterator[T]:
    """Yield ``items`` under a rich progress bar (removed when done)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(escape(description), total=total)
        for item in items:
            yield item
            bar.advance(task)


def plain_lines(
    items: Iterable[T],
    description: str,
    total: int | None,
    console: Console,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield ``items``, printing ``description: done/total, elapsed, eta`` lines.

    A line comes after each further tenth of ``total`` (or :data:`LINE_EVERY_SECONDS`),
    and one when the last task is done; so a log file gets about ten lines per
    stage whatever its size.
    """
    start = last_time = clock()
    step = max(1, int(total * LINE_EVERY_SHARE)) if total else 1
    next_count = step
    for done, item in enumerate(items, start=1):
        yield item
        now = clock()
        finished = total is not None and done >= total
        if finished or done >= next_count or now - last_time >= LINE_EVERY_SECONDS:
            console.print(escape(_line(description, done, total, now - start)), highlight=False)
            last_time = now
            while next_count <= done:
                next_count += step


def _line(description: str, done: int, total: int | None, elapsed: float) -> str:
    label = description or "tasks"
    if total is None:
        return f"{label}: {done} done, {elapsed:.1f}s"
    if done >= total:
        return f"{label}: {done}/{total} done in {elapsed:.1f}s"
    eta = elapsed / done * (total - done) if done else float("nan")
    return f"{label}: {done}/{total}, {elapsed:.1f}s elapsed, about {eta:.0f}s left"

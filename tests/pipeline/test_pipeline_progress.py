"""Progress of a stage's tasks: a live bar with an ETA in a terminal, plain lines in a
log, nothing when quiet; always on the progress console (stderr), never stdout."""

from __future__ import annotations

import io

from rich.console import Console

from panelml.pipeline.progress import plain_lines
from panelml.pipeline.reporter import Reporter


def consoles(terminal: bool) -> tuple[io.StringIO, io.StringIO, Reporter, Console]:
    out, err = io.StringIO(), io.StringIO()
    progress = Console(file=err, force_terminal=terminal, width=120)
    reporter = Reporter(Console(file=out, force_terminal=False), progress_console=progress)
    return out, err, reporter, progress


def test_terminal_shows_a_bar_with_eta_on_the_progress_console() -> None:
    out, err, reporter, _ = consoles(terminal=True)
    assert list(reporter.progress(range(7), "target_ranking: fits", total=7)) == list(range(7))
    text = err.getvalue()
    assert "target_ranking: fits" in text and "7/7" in text and "eta" in text
    assert out.getvalue() == ""


def test_a_log_gets_plain_lines_and_quiet_gets_nothing() -> None:
    out, err, reporter, _ = consoles(terminal=False)
    assert list(reporter.progress(range(30), "feature_selection: targets", total=30)) == list(
        range(30)
    )
    lines = err.getvalue().splitlines()
    assert lines[-1].startswith("feature_selection: targets: 30/30 done in")
    assert 2 <= len(lines) <= 11 and "\x1b[" not in err.getvalue()  # about ten, no escapes
    assert out.getvalue() == ""
    quiet_err = io.StringIO()
    quiet = Reporter(quiet=True, progress_console=Console(file=quiet_err, force_terminal=True))
    assert list(quiet.progress(range(3), "x", total=3)) == [0, 1, 2]
    assert quiet_err.getvalue() == ""


def test_plain_lines_give_an_eta_from_the_pace_so_far() -> None:
    err = io.StringIO()
    ticks = iter(float(t) for t in range(100))
    console = Console(file=err, force_terminal=False, width=200)
    list(plain_lines(range(4), "stage", 4, console, clock=lambda: next(ticks)))
    lines = err.getvalue().splitlines()
    assert lines[0] == "stage: 1/4, 1.0s elapsed, about 3s left"
    assert lines[-1] == "stage: 4/4 done in 4.0s"

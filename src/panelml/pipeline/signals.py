"""SIGINT and SIGTERM during a run: stop cleanly and mark the run ``interrupted``.

While :func:`interrupt_on_signals` is active (the runner wraps its stage loop in
it), either signal raises :class:`RunInterrupted` in the main thread. It
propagates like any exception, so the runner records the stage and the run as
``interrupted`` and writes the manifest before the process exits. The CLI
prints one line and exits with ``128 + signal number``, the shell convention:
130 for SIGINT (Ctrl-C), 143 for SIGTERM.

``RunInterrupted`` subclasses ``KeyboardInterrupt``, so code that already
lets a Ctrl-C through (and does not swallow ``Exception``) lets it through too.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

__all__ = ["RunInterrupted", "interrupt_on_signals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.run_dir: Path | None = None
        """The interrupted run's folder, set by the runner once its manifest is written."""
        super().__init__(f"received {signal.Signals(signum).name}")

    def describe(self) -> str:
        """One line for the terminal: which signal, which run, how to resume."""
        name = signal.Signals(self.signum).name
        if self.run_dir is None:
            return f"stopped by {name}"
        return (
            f"stopped by {name}; run {self.run_dir} is marked interrupted; rerun the same "
            "command to resume (finished stages come from the cache)"
        )

    @property
    def exit_code(self) -> int:
        """``128 + signal number``: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise RunInterrupted(signum)


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Raise :class:`RunInterrupted` on SIGINT/SIGTERM inside the block.

    Only in the main thread (Python delivers signals there); elsewhere the
    block runs with the handlers unchanged. Previous handlers are restored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

"""DataError: the one exception type for problems with the user's data.

Every message is one sentence that says what is wrong, where (file, column,
rows) and how to fix it, so the CLI can print it without a traceback.

``DataError`` is a ``panelml.pipeline.errors.UserError`` (so the CLI prints it
without a traceback) and also a ``ValueError`` (it is a bad value, and callers
that catch ``ValueError`` keep working).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from panelml.pipeline.errors import UserError
from panelml.pipeline.suggest import did_you_mean as suggest


class DataError(UserError, ValueError):
    """The data (files, columns or values) cannot be turned into a Panel as configured."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for up to three close column names (the engine's one rule)."""
    return suggest(name, candidates, limit=3)


def preview(names: Sequence[str], limit: int = 12) -> str:
    """A short, readable list of names: the first ``limit`` and how many more."""
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown or "(none)"

"""Which targets a stage's ``targets:`` parameter names: one set of glob rules.

Every built-in stage that takes ``targets:`` resolves it here, so the key means
the same thing everywhere: a list of names or ``fnmatch`` globs (``*``, ``?``,
``[...]``, case-sensitive), resolved against the data's targets in the order
the patterns are given (each pattern's matches in the data's order, duplicates
dropped). A pattern that matches nothing is a user error naming the available
targets (with a did-you-mean for a near miss).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from fnmatch import fnmatchcase

from panelml.pipeline.errors import UserError


class TargetPatternError(UserError):
    """A ``targets:`` pattern matches no target of the data."""


def _near(pattern: str, available: Sequence[str]) -> str:
    close = difflib.get_close_matches(pattern, list(available), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_targets(
    patterns: Sequence[str], available: Sequence[str], *, key: str = "targets"
) -> list[str]:
    """The targets of ``available`` that ``patterns`` name, in pattern order.

    ``key`` names the setting in the error (for example ``training.targets``).
    Raises :class:`TargetPatternError` for a pattern that matches nothing.
    """
    names = [str(t) for t in available]
    chosen: list[str] = []
    for pattern in patterns:
        hits = [t for t in names if fnmatchcase(t, pattern)]
        if not hits:
            listed = ", ".join(names) if names else "none"
            raise TargetPatternError(
                f"{key}: {pattern!r} matches no target of the data{_near(pattern, names)}; "
                f"the targets are {listed} (fix the name or glob, or data.targets)"
            )
        chosen.extend(t for t in hits if t not in chosen)
    return chosen

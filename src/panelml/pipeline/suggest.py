"""Did-you-mean suggestions for unknown names, one rule for every layer.

Used by the registries (stages, families, hooks), the config, the data loader
(columns) and the CLI, so an unknown name reads the same wherever it comes from.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, choices: Iterable[str], limit: int = 1) -> str:
    """`` (did you mean 'x'?)`` for the closest choices (up to ``limit``, joined by
    "or"), or an empty string when none is close.

    Closeness is :func:`difflib.get_close_matches` with cutoff 0.6; a choice that
    differs only in case counts as close when nothing else is.
    """
    pool = list(choices)
    close = difflib.get_close_matches(name, pool, n=limit, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"

"""The planned pipeline: stage instances with their enabled flag, and the order check.

:func:`check_order` runs before any work: every stage's inputs must come from
an earlier stage, and the error names the stage, the missing input and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from panelml.pipeline.errors import PipelineOrderError
from panelml.pipeline.stage import Stage


@dataclass(frozen=True)
class PlannedStage:
    """A stage instance and whether the config enables it."""

    stage: Stage[Any]
    enabled: bool = True

    @property
    def name(self) -> str:
        return self.stage.name


def check_order(stages: Sequence[Stage[Any] | PlannedStage | type[Stage[Any]]]) -> None:
    """Check, before any work, that each stage's inputs come from an earlier stage.

    Raises :class:`PipelineOrderError` naming the stage, the missing input and
    the fix. Disabled stages count as present (their dependants are skipped at
    run time with a reason). Optional inputs must come earlier only when present.
    """
    items = [s.stage if isinstance(s, PlannedStage) else s for s in stages]
    names = [s.name for s in items]
    seen: set[str] = set()
    for position, name in enumerate(names):
        if name in seen:
            raise PipelineOrderError(f"stage {name!r} appears twice in the pipeline; keep one")
        seen.add(name)
        item = items[position]
        for needed, optional in [(r, False) for r in item.requires] + [
            (r, True) for r in item.uses
        ]:
            if needed in names[:position]:
                continue
            if needed in names:
                raise PipelineOrderError(
                    f"stage {name!r} requires {needed!r}, which runs after it; "
                    f"move {needed!r} before {name!r}"
                )
            if not optional:
                raise PipelineOrderError(
                    f"stage {name!r} requires {needed!r}, which is not in the pipeline; "
                    f"add {needed!r} before {name!r}"
                )

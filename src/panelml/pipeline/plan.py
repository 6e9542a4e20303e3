"""The planned pipeline: stage instances with their enabled flag, and the input check.

:func:`check_order` runs before any work (and in ``panelml validate``): every
input a stage declares (:meth:`~panelml.pipeline.stage.Stage.inputs`) must be
provided by an earlier stage, and the error names the stage, the missing kind
and the fix: the registered stages that provide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from panelml.pipeline.errors import PipelineOrderError
from panelml.pipeline.registry import stages as stage_registry
from panelml.pipeline.stage import Input, Stage, legacy_inputs, provided_kinds


@dataclass(frozen=True)
class PlannedStage:
    """A stage instance and whether the config enables it."""

    stage: Stage[Any]
    enabled: bool = True

    @property
    def name(self) -> str:
        return self.stage.name


def stage_inputs(item: Stage[Any] | type[Stage[Any]]) -> tuple[Input, ...]:
    """The inputs of a stage instance, or of a class (from its legacy tuples)."""
    return legacy_inputs(item) if isinstance(item, type) else item.inputs()


def provides(item: Stage[Any] | type[Stage[Any]], kind: str) -> bool:
    """Whether ``item``'s result provides ``kind`` (its stage name counts)."""
    return kind in provided_kinds(item.name, item.result_type)


def registered_providers(kind: str) -> list[str]:
    """Names of the registered stages whose result provides ``kind``, sorted."""
    return sorted(
        name
        for name, cls in stage_registry.registered().items()
        if isinstance(cls, type) and hasattr(cls, "result_type") and provides(cls, kind)
    )


def check_order(stages: Sequence[Stage[Any] | PlannedStage | type[Stage[Any]]]) -> None:
    """Check, before any work, that each stage's inputs come from an earlier stage.

    Raises :class:`PipelineOrderError` naming the stage, the missing input and
    the fix. Disabled stages count as present (their dependants are skipped at
    run time with a reason). Optional inputs must come earlier only when present.
    """
    items = [s.stage if isinstance(s, PlannedStage) else s for s in stages]
    seen: set[str] = set()
    for position, item in enumerate(items):
        name = item.name
        if name in seen:
            raise PipelineOrderError(f"stage {name!r} appears twice in the pipeline; keep one")
        seen.add(name)
        for needed in stage_inputs(item):
            kind = needed.kind
            if any(provides(earlier, kind) for earlier in items[:position]):
                continue
            later = [other.name for other in items[position + 1 :] if provides(other, kind)]
            if later:
                raise PipelineOrderError(
                    f"stage {name!r} requires {kind!r}, which runs after it; "
                    f"move {later[0]!r} before {name!r}"
                    if later[0] == kind
                    else f"stage {name!r} requires {kind!r}, which {later[0]!r} provides but "
                    f"runs after it; move {later[0]!r} before {name!r}"
                )
            if not needed.optional:
                message = _missing(name, kind)
                raise PipelineOrderError(
                    f"{message}, or {needed.instead}" if needed.instead else message
                )


def _missing(name: str, kind: str) -> str:
    """The message for a required ``kind`` no stage of the pipeline provides."""
    if _is_stage_name(kind):
        return (
            f"stage {name!r} requires {kind!r}, which is not in the pipeline; "
            f"add {kind!r} before {name!r}"
        )
    found = [p for p in registered_providers(kind) if p != name]
    if not found:
        return (
            f"stage {name!r} requires a {kind!r} result, which no stage of the pipeline "
            f"provides and no registered stage provides either; add a stage whose result "
            f"provides {kind!r} before {name!r}"
        )
    choice = " or ".join(repr(p) for p in found)
    return (
        f"stage {name!r} requires a {kind!r} result, which no earlier stage provides; "
        f"add {choice} before {name!r}"
    )


def _is_stage_name(kind: str) -> bool:
    """Legacy inputs name a stage (snake_case); contract kinds are CamelCase."""
    return kind == kind.lower()

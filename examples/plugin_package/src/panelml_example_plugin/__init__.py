"""An example third-party panelml plugin: one stage and one hook plugin.

Nothing here is registered with a decorator: the package's entry points
(``panelml.stages`` / ``panelml.hooks`` in ``pyproject.toml``) are how panelml
finds them, and they are imported only when a config names them::

    pipeline:
      stages: [row_count]
    hooks: [{name: stage_log, params: {path: stages.log}}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from panelml.pipeline.context import RunContext
from panelml.pipeline.events import PipelineFinished, StageEnded
from panelml.pipeline.results import JsonResult
from panelml.pipeline.stage import Stage, StageParams

__all__ = ["RowCountParams", "RowCountStage", "StageLogHook"]


class RowCountParams(StageParams):
    """Params of :class:`RowCountStage`."""

    label: str = Field("rows", description="key under which the row count is recorded")


class RowCountStage(Stage[RowCountParams]):
    """Records how many rows the data has."""

    name = "row_count"
    Params = RowCountParams
    result_type = JsonResult

    def run(self, ctx: RunContext) -> JsonResult:
        data: Any = ctx.data
        n_rows = getattr(data, "n_rows", None)
        if n_rows is None:
            n_rows = len(data)
        ctx.reporter.info(f"{self.params.label}: {n_rows}")
        return JsonResult({self.params.label: int(n_rows)})


class StageLogHook:
    """Appends one line per finished stage (``<stage> <status>``) to a text file."""

    name = "stage_log"

    def __init__(self, path: str = "stage_log.txt") -> None:
        self.path = Path(path)

    def after_stage(self, event: StageEnded) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"{event.stage} {event.status}\n")

    def after_pipeline(self, event: PipelineFinished) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"pipeline {event.status}\n")

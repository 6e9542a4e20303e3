"""The built-in ``stability_snapshots`` hook plugin.

After ``feature_selection`` and ``training`` (computed or taken from the cache)
it appends that stage's per-target importance snapshots to the experiment's
snapshot store (:mod:`panelml.stability.snapshots`), so later runs and
``panelml stability`` can measure how stable the selections are across runs.

It is registered through the public hook registry exactly like a third-party
plugin (``@register_hook``), is on by default in panelml runs, and can also be
listed in a config::

    hooks:
      - name: stability_snapshots
        params: {stages: [feature_selection, training]}

Failures are isolated like any hook's: a store that cannot be written is a
warning and the run goes on (unless ``runtime.strict_hooks``).
"""

from __future__ import annotations

from collections.abc import Sequence

from panelml.pipeline.events import StageEnded
from panelml.pipeline.hooks import Hooks
from panelml.pipeline.registry import register_hook
from panelml.stability.snapshots import SnapshotStore, snapshots_from_result

__all__ = ["HOOK_NAME", "StabilitySnapshots"]

HOOK_NAME = "stability_snapshots"


@register_hook
class StabilitySnapshots(Hooks):
    """Writes importance snapshots of the listed stages into the experiment's store.

    Args:
        stages: names of the stages whose results are snapshotted (their results
            must look like the built-in feature-selection or training results).
    """

    name = HOOK_NAME
    priority = 0

    def __init__(self, stages: Sequence[str] = ("feature_selection", "training")) -> None:
        if isinstance(stages, str) or not all(isinstance(s, str) for s in stages):
            raise TypeError(f"stages must be a list of stage names, got {stages!r}")
        self.stages = tuple(stages)

    def after_stage(self, event: StageEnded) -> None:
        """Append the snapshots of a watched stage that produced a result."""
        ctx = event.context
        if event.stage not in self.stages or event.result is None or ctx is None:
            return
        frame = snapshots_from_result(
            event.result, run_id=ctx.run_id, experiment=ctx.experiment, stage=event.stage
        )
        if frame.height == 0:
            return
        SnapshotStore.for_run(ctx.run_dir).write(frame, run_id=ctx.run_id, stage=event.stage)

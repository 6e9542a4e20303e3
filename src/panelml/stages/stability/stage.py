"""The ``stability`` stage: will this run's features and importances hold across runs?

It compares this run's selections and importance rankings with every earlier
finished run of the same experiment, per target and method, and reports Nogueira's Phi
over the runs (with its 95% interval), Jaccard of the top-k with the previous
run and over all pairs, Kendall's tau of the importances with the previous run,
and the within-run fold stability of the selection; measures below their
thresholds are printed as warnings. See
:func:`panelml.stability.history.history_stability` for the exact rules.

This run's selections come from ``ctx.results`` (``feature_selection`` and
``training``, both optional); earlier runs' from the experiment's snapshot store
(:mod:`panelml.stability.snapshots`), with this run's own rows left out, so the
stage gives the same answer whether or not the ``stability_snapshots`` hook ran.
Its output depends on earlier runs, which no cache key can see, so the stage
is never cached (``cacheable = False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import polars as pl
from pydantic import Field

from panelml import contracts
from panelml.pipeline.context import RunContext
from panelml.pipeline.registry import register_stage
from panelml.pipeline.results import TableResult
from panelml.pipeline.stage import Input, Stage, StageParams
from panelml.stability.history import finished_runs_only, history_stability
from panelml.stability.measures import StabilityThresholds
from panelml.stability.snapshots import SnapshotStore, empty_snapshots, snapshots_from_result

__all__ = ["StabilityParams", "StabilityResult", "StabilityStage"]

_SOURCES = (contracts.FEATURE_CHOICE, contracts.TRAINED_MODELS)


class StabilityParams(StageParams):
    """Parameters of the ``stability`` stage."""

    top_k: int = Field(10, ge=1, description="k of the top-k sets compared by Jaccard")
    max_runs: int | None = Field(
        None, ge=1, description="compare with at most this many most recent earlier runs"
    )
    nogueira_warn: float = Field(
        StabilityThresholds.nogueira_warn, description="warn when Phi (runs or folds) is below"
    )
    jaccard_warn: float = Field(
        StabilityThresholds.jaccard_warn, description="warn when top-k Jaccard is below"
    )
    kendall_warn: float = Field(
        StabilityThresholds.kendall_warn, description="warn when Kendall tau is below"
    )


class StabilityResult(TableResult):
    """Tables ``report`` (one row per target and method) and ``frequency`` (per
    target, method and feature: selection frequency across runs)."""

    provides: ClassVar[tuple[str, ...]] = (contracts.STABILITY_REPORT,)

    def contract_problems(self) -> list[str]:
        """Ways the tables break the contracts in ``provides`` (:mod:`panelml.contracts`)."""
        return contracts.result_problems(self, self.provides)

    @property
    def report(self) -> pl.DataFrame:
        return self.tables["report"]

    @property
    def frequency(self) -> pl.DataFrame:
        return self.tables["frequency"]


def _fold_stability(result: Any) -> dict[str, Mapping[str, Any]]:
    meta = getattr(result, "meta", None)
    found = meta.get("stability") if isinstance(meta, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {str(t): v for t, v in found.items() if isinstance(v, Mapping)}


@register_stage
class StabilityStage(Stage[StabilityParams]):
    """Stability of selections and importances across runs of the experiment."""

    name = "stability"
    Params = StabilityParams
    result_type = StabilityResult
    cacheable: ClassVar[bool] = False
    version = "1"

    def run(self, ctx: RunContext) -> StabilityResult:
        created = datetime.now(UTC)
        current = [
            snapshots_from_result(
                ctx.results[name],
                run_id=ctx.run_id,
                experiment=ctx.experiment,
                stage=name,
                created=created,
            )
            for name in self._sources(ctx)
        ]
        this_run = pl.concat(current) if current else empty_snapshots()
        store = SnapshotStore.for_run(ctx.run_dir)
        earlier = store.read(experiment=ctx.experiment, exclude_run=ctx.run_id)
        earlier, unfinished = finished_runs_only(earlier, ctx.run_dir.parent)
        if unfinished:
            ctx.reporter.info(
                f"stability: left out {len(unfinished)} earlier run(s) that did not finish "
                f"({', '.join(unfinished[:5])}{', ...' if len(unfinished) > 5 else ''})"
            )
        earlier = self._recent(earlier)
        params = self.params
        thresholds = StabilityThresholds(
            nogueira_warn=params.nogueira_warn,
            jaccard_warn=params.jaccard_warn,
            kendall_warn=params.kendall_warn,
        )
        report, frequency = history_stability(
            pl.concat([earlier, this_run]),
            current_run=ctx.run_id,
            k=params.top_k,
            thresholds=thresholds,
            fold_stability=_fold_stability(ctx.input(contracts.FEATURE_CHOICE)),
        )
        for message in report.filter(pl.col("status") == "warn")["message"].to_list():
            ctx.reporter.warn(str(message))
        n_earlier = earlier["run_id"].n_unique() if earlier.height else 0
        if report.height:
            ctx.reporter.info(
                f"stability: compared this run with {n_earlier} earlier run(s) of "
                f"{ctx.experiment!r}; {int((report['status'] == 'warn').sum())} of "
                f"{report.height} target/method rows below a threshold"
            )
        return StabilityResult(
            {"report": report, "frequency": frequency},
            {
                "top_k": params.top_k,
                "n_earlier_runs": n_earlier,
                "earlier_runs": sorted(set(earlier["run_id"].to_list())),
                "unfinished_runs_left_out": unfinished,
            },
        )

    def inputs(self) -> tuple[Input, ...]:
        """Optional ``FeatureChoice`` and ``TrainedModels``: the selections and
        importances of this run compared with the earlier runs."""
        return tuple(Input(kind, optional=True) for kind in _SOURCES)

    @staticmethod
    def _sources(ctx: RunContext) -> list[str]:
        """The stages of this run whose results are snapshotted, in run order."""
        found = {ctx.provider(kind) for kind in _SOURCES}
        return [name for name in ctx.results if name in found]

    def _recent(self, earlier: pl.DataFrame) -> pl.DataFrame:
        """Only the ``max_runs`` most recent earlier runs (all when unset)."""
        limit = self.params.max_runs
        if limit is None or earlier.height == 0:
            return earlier
        first = earlier.group_by("run_id").agg(pl.col("created").min())
        keep = first.sort(["created", "run_id"]).tail(limit)["run_id"]
        return earlier.filter(pl.col("run_id").is_in(keep.to_list()))

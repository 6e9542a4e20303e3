"""The two per-target gates applied after the consensus vote: the skill gate
(select nothing when the first family's out-of-fold predictions show no skill)
and the conditional-relevance step (:mod:`panelml.stages.selection._conditional`),
written into the selection table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from panelml.data.panel import Panel
from panelml.stages.fitting import Fold
from panelml.stages.selection._conditional import Addition, conditional_additions
from panelml.stages.selection._params import FeatureSelectionParams
from panelml.stages.selection._rank_block import RankBlock
from panelml.validation.metrics import ic_series
from panelml.validation.significance import ic_significance
from panelml.validation.spec import ValidationConfig

__all__ = ["add_conditional", "no_skill_reason"]


def add_conditional(
    panel: Panel,
    target: str,
    table: pl.DataFrame,
    allowed: tuple[str, ...],
    block: RankBlock,
    folds: list[Fold],
    corr: np.ndarray[Any, np.dtype[np.float64]] | None,
    params: FeatureSelectionParams,
    validation: ValidationConfig,
) -> pl.DataFrame:
    """The conditional-relevance step on ``target``'s table: features it adds get
    ``selected`` true and their evidence in ``reason``."""
    position = {name: i for i, name in enumerate(allowed)}
    picked = dict(zip(table["feature"].to_list(), table["selected"].to_list(), strict=True))
    chosen = [position[f] for f in table["feature"].to_list() if picked[f] and f in position]
    eligible = set(table.filter(pl.col("eligible"))["feature"].to_list())
    candidates = np.array([f not in eligible for f in allowed])
    threshold = params.redundancy_threshold
    if corr is not None and threshold is not None and chosen:
        candidates &= np.abs(corr[:, chosen]).max(axis=1) <= threshold
    assert params.conditional_fdr is not None
    added: list[Addition] = conditional_additions(
        block,
        panel.timestamp_index[block.rows],
        folds,
        len(allowed),
        chosen,
        candidates,
        horizon=panel.horizons[target],
        scheme=validation.scheme,
        fdr=params.conditional_fdr,
        min_hit_rate=params.conditional_min_hit_rate,
        min_names=validation.min_names,
        max_additions=params.top_n - len(chosen),
    )
    if not added:
        return table
    evidence = {
        allowed[a.column]: (
            f"conditional: marginal p={a.marginal_p:.2g}; out-of-fold partial IC "
            f"{a.partial_ic:.3f} given the features chosen before it (p={a.partial_p:.2g}), "
            f"above every shadow in {a.hits}/{a.n_folds} folds"
        )
        for a in added
    }
    added_here = pl.col("feature").is_in(list(evidence))
    return table.with_columns(
        selected=pl.col("selected") | added_here,
        reason=pl.when(added_here)
        .then(pl.col("feature").replace_strict(evidence, default=None))
        .otherwise(pl.col("reason")),
    )


def no_skill_reason(
    panel: Panel,
    target: str,
    rows: np.ndarray[Any, np.dtype[np.int64]],
    oof: np.ndarray[Any, np.dtype[np.float64]],
    family: str,
    params: FeatureSelectionParams,
    validation: ValidationConfig,
) -> str | None:
    """Why nothing may be selected for ``target`` (``family``'s out-of-fold
    predictions ``oof`` show no skill at ``skill_alpha``), or ``None``."""
    alpha = params.skill_alpha
    known = rows[np.isfinite(oof[rows]) & np.isfinite(panel.targets[target][rows])]
    series = ic_series(
        oof[known],
        panel.targets[target][known],
        panel.timestamps[known],
        min_names=validation.min_names,
    )
    horizon = math.ceil(panel.horizons[target] / params.timestamp_stride)
    test = ic_significance(series.values, horizon, scheme=validation.scheme, families=[family])
    if alpha is None or (math.isfinite(test.p_value) and test.p_value <= alpha):
        return None
    return (
        f"no_skill: the {family} models show no out-of-fold skill for this target "
        f"(rank IC {test.mean:.3f}, p={test.p_value:.3g} > skill_alpha={alpha:g})"
    )

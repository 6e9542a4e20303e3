"""The ``target_ranking`` params, its error class and its fast per-family defaults (the
:class:`~panelml.stages.panel_stage.PanelStage` base merges them under the user's
``family_params``)."""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from pydantic import Field

from panelml.pipeline.errors import UserError
from panelml.stages.panel_stage import PanelStageParams

__all__ = [
    "RANKING_FAMILY_DEFAULTS",
    "RankingError",
    "TargetRankingParams",
]

RANKING_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "n_estimators": 150,
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "early_stopping_rounds": 20,
    },
    "xgboost": {
        "n_estimators": 150,
        "learning_rate": 0.1,
        "max_depth": 4,
        "min_child_weight": 100.0,
        "colsample_bytree": 0.8,
        "early_stopping_rounds": 20,
    },
}
"""Fast ranking settings per family, under the user's ``family_params``: ranking
asks "is there skill?", not "what is the best model?"."""


class RankingError(UserError):
    """The ``target_ranking`` params do not fit this panel."""


class TargetRankingParams(PanelStageParams):
    """Parameters of the ``target_ranking`` stage (see the module docstring)."""

    targets: list[str] | None = Field(
        None, description="targets to rank (names or globs); default: every target"
    )
    families: list[str] = Field(
        default_factory=lambda: ["lightgbm", "ridge"], min_length=1, description="ranking families"
    )
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-family params over the ranking defaults"
    )
    fdr: float = Field(0.10, gt=0.0, lt=1.0, description="false discovery rate level")
    fdr_method: Literal["by", "bh"] = "by"
    top_n: int = Field(5, ge=1, description="at most this many targets are selected")
    min_rows: int = Field(200, ge=2, description="fewest known values a target needs")
    min_timestamps: int = Field(30, ge=2, description="fewest timestamps a target needs")
    min_minority_share: float = Field(0.02, ge=0.0, lt=0.5)
    max_rank_ic: float = Field(0.3, gt=0.0, le=1.0, description="higher rank IC: a warning")
    max_rank_ic_by_target: dict[str, float] = Field(
        default_factory=dict,
        description="glob -> max_rank_ic for targets that are legitimately very predictable "
        "(e.g. forward volatility, which clusters); the first matching glob wins",
    )
    max_auc: float = Field(0.80, gt=0.5, le=1.0, description="higher AUC: a warning")
    max_feature_share: float = Field(
        0.6, gt=0.0, le=1.0, description="higher top gain share: a warning"
    )
    early_stopping: bool = True
    demean: bool = Field(
        True,
        description="regression targets are learned net of each timestamp's mean (the "
        "market move no cross-sectional model can use); rank IC is unchanged by it",
    )
    early_stopping_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_rows_per_timestamp: int | None = Field(None, ge=1)
    timestamp_stride: int = Field(1, ge=1)
    min_symbol_obs: int = Field(20, ge=2, description="fewest rows for a per-symbol IC")

    def rank_ic_limit(self, target: str) -> float:
        """``max_rank_ic`` for ``target``: the first matching glob of
        ``max_rank_ic_by_target``, else ``max_rank_ic``."""
        for pattern, limit in self.max_rank_ic_by_target.items():
            if fnmatch.fnmatchcase(target, pattern):
                return limit
        return self.max_rank_ic

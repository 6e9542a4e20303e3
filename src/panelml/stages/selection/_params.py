"""The ``feature_selection`` params: the importance judgements, their weights and the
selection rule's settings (see :mod:`panelml.stages.selection`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from panelml.pipeline.errors import UserError
from panelml.stability import StabilityThresholds
from panelml.stages.panel_stage import PanelStageParams
from panelml.stages.selection._importance import (
    PERMUTATION,
    UNIVARIATE,
)
from panelml.stages.selection._interactions import PAIRWISE_KIND

__all__ = [
    "DEFAULT_IMPORTANCES",
    "UNIVARIATE_KINDS",
    "FeatureSelectionError",
    "FeatureSelectionParams",
    "ImportanceSpec",
    "importance_weight",
]


class FeatureSelectionError(UserError):
    """The feature_selection stage cannot run as configured."""


class ImportanceSpec(BaseModel):
    """One importance judgement: a family (or ``univariate``), a kind, a weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    kind: str
    weight: float = Field(1.0, ge=0.0)

    @property
    def label(self) -> str:
        return f"{self.family}_{self.kind}"


UNIVARIATE_KINDS = ("rank_ic", "partial_rank_ic", PAIRWISE_KIND)
DEFAULT_IMPORTANCES = (
    ImportanceSpec(family="lightgbm", kind="gain", weight=1.0),
    ImportanceSpec(family="lightgbm", kind=PERMUTATION, weight=1.0),
    ImportanceSpec(family=UNIVARIATE, kind="rank_ic", weight=0.5),
    ImportanceSpec(family=UNIVARIATE, kind="partial_rank_ic", weight=1.0),
    ImportanceSpec(family=UNIVARIATE, kind=PAIRWISE_KIND, weight=0.5),
)


class FeatureSelectionParams(PanelStageParams):
    """Parameters of ``feature_selection`` (module docstring for the method)."""

    targets: list[str] | None = Field(
        None, description="targets to select for; default: those target_ranking selected"
    )
    importances: tuple[ImportanceSpec, ...] = Field(default=DEFAULT_IMPORTANCES, min_length=1)
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-family model params (override the defaults)"
    )
    top_n: int = Field(30, ge=1, description="most features selected per target")
    min_hit_rate: float = Field(
        0.6, gt=0.0, le=1.0, description="share of folds whose consensus vote beats the shadows"
    )
    vote_exclude: tuple[str, ...] = Field(
        ("univariate_rank_ic", f"univariate_{PAIRWISE_KIND}"),
        description="importance labels (<family>_<kind>) that rank but do not vote on eligibility",
    )
    solo_vote: tuple[str, ...] = Field(
        (f"univariate_{PAIRWISE_KIND}",),
        description="importance labels that make a feature eligible on their own when they "
        "beat their best shadow in at least solo_min_hit_rate of the folds",
    )
    solo_min_hit_rate: float = Field(
        0.8, gt=0.0, le=1.0, description="share of folds a solo_vote kind must win"
    )
    conditional_fdr: float | None = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Benjamini-Hochberg level of the conditional-relevance step's marginal "
        "and partial tests (None: no conditional step)",
    )
    conditional_min_hit_rate: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="share of folds in which a conditional addition's out-of-fold partial "
        "IC must beat every shadow's",
    )
    pairwise_max_partners: int = Field(64, ge=1, description="partners per pairwise_rank_ic")
    shadow_quantile: float = Field(1.0, gt=0.0, le=1.0, description="1.0 = beat the best shadow")
    shadow_shuffle: str = Field("symbol", pattern="^(symbol|row)$")
    redundancy_threshold: float | None = Field(0.95, gt=0.0, le=1.0)
    redundancy_sample_rows: int = Field(20_000, ge=100)
    permutation_top_k: int = Field(20, ge=1)
    permutation_max_rows_per_timestamp: int | None = Field(200, ge=2)
    permutation_repeats: int = Field(1, ge=1)
    max_rows_per_timestamp: int | None = Field(None, ge=2, description="thin rows for fitting")
    timestamp_stride: int = Field(1, ge=1, description="keep every k-th timestamp for fitting")
    stability_warn: float = Field(StabilityThresholds().nogueira_warn, ge=-1.0, le=1.0)
    skill_alpha: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="select nothing unless the first family's out-of-fold rank IC is "
        "significant at this level (None: no gate)",
    )

    @field_validator("importances")
    @classmethod
    def _unique(cls, value: tuple[ImportanceSpec, ...]) -> tuple[ImportanceSpec, ...]:
        labels = [s.label for s in value]
        if len(set(labels)) != len(labels):
            raise ValueError(f"each (family, kind) may appear once; got {labels}")
        if sum(s.weight for s in value) <= 0:
            raise ValueError("at least one importance needs a positive weight")
        return value


def importance_weight(params: FeatureSelectionParams, family: str, kind: str) -> float:
    """The weight the params give to ``family``'s importance ``kind``."""
    for spec in params.importances:
        if spec.family == family and spec.kind == kind:
            return spec.weight
    raise KeyError(f"{family}/{kind}")  # unreachable: plans come from the specs

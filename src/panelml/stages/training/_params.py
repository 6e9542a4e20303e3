"""The ``training`` params (YAML ``training:`` section) and their checks."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from panelml.models.registry import available_families, get_family
from panelml.pipeline.suggest import did_you_mean
from panelml.stages.panel_stage import PanelStageParams
from panelml.stages.training._result import ENSEMBLE
from panelml.stages.training._tuning_space import TuningSpec, resolve_space

__all__ = ["TrainingParams"]


class TrainingParams(PanelStageParams):
    """Params of the ``training`` stage (YAML ``training:`` section)."""

    targets: list[str] | None = Field(
        None, description="target names or globs; default: feature selection's, else ranking's"
    )
    families: list[str] = Field(
        default_factory=lambda: ["lightgbm", "ridge"], description="model families to train"
    )
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="family name -> params passed to that family"
    )
    scope: Literal["pooled", "per_symbol"] = "pooled"
    min_rows_per_symbol: int = Field(250, ge=10, description="per_symbol: fewest known rows")
    target_transform: Literal["auto", "none", "demean"] = Field(
        "auto",
        description="label the models learn: demean = minus each timestamp's mean; auto = "
        "demean for pooled regression targets, none otherwise",
    )
    early_stopping_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="share of a fold's training timestamps used to stop"
    )
    tuning: dict[str, TuningSpec] = Field(
        default_factory=dict,
        description="family name -> Optuna tuning nested in the outer folds (docs/tuning.md)",
    )

    @field_validator("families")
    @classmethod
    def _unique_families(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one model family, e.g. [lightgbm, ridge]")
        if len(set(value)) != len(value):
            raise ValueError(f"each family may appear once, got {value}")
        if ENSEMBLE in value:
            raise ValueError(f"{ENSEMBLE!r} is the rank-average of the families, not a family")
        return value

    @model_validator(mode="after")
    def _params_for_listed_families(self) -> Self:
        unknown = sorted(set(self.family_params) - set(self.families))
        if unknown:
            raise ValueError(
                f"family_params names {unknown}, which are not in families {self.families}: "
                "add them to families or remove their params"
            )
        return self

    @model_validator(mode="after")
    def _tuning_for_listed_families(self) -> Self:
        for name, spec in self.tuning.items():
            if name not in self.families and name in available_families():
                raise ValueError(
                    f"tuning names {name!r}, which is not in families {self.families}: add it "
                    "to families or remove its tuning"
                )
            if name not in self.families:
                hint = did_you_mean(name, [*self.families, *available_families()])
                raise ValueError(
                    f"tuning names unknown family {name!r}{hint}: tune a family that "
                    f"families lists ({', '.join(self.families)})"
                )
            if get_family(name).reads_history:
                raise ValueError(
                    f"tuning names {name!r}, a sequence family: its inner folds would need each "
                    "symbol's earlier bars, which the tuner does not pass; remove its tuning "
                    "and set its params under family_params"
                )
            resolve_space(name, spec)  # a family without a default space needs one
        return self

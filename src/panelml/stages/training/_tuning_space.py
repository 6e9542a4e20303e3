"""The ``training.tuning`` config: per-family tuning settings and search spaces.

YAML (one entry per tuned family; the family must also be in ``training.families``)::

    training:
      families: [lightgbm, ridge]
      tuning:
        lightgbm:
          n_trials: 30          # trials per study (one per outer fold, one for the final model)
          timeout_s: 600        # optional wall-clock cap per study (makes the trial count vary)
          inner_splits: 3       # inner purged folds inside each outer training fold
          pruner: median        # median (Optuna's MedianPruner) | none
          space:                # optional; default: DEFAULT_SPACES[family]
            num_leaves: {int: [8, 128], log: true}
            learning_rate: {float: [0.01, 0.3], log: true}
            min_data_in_leaf: {int: [20, 400], log: true}
            feature_fraction: {float: [0.5, 1.0]}
            objective: {categorical: [regression, huber]}

A range is exactly one of ``int: [low, high]``, ``float: [low, high]`` (both
bounds included) or ``categorical: [choices...]`` (a choice may be a list, e.g.
``hidden_sizes: {categorical: [[64], [64, 32]]}``); ``log: true`` samples on a
log scale (bounds > 0), ``step`` samples a grid (not with ``log``). Binning
parameters (``max_bin``, ``border_count``, ...) cannot be tuned: one binned
matrix serves every trial (bin-once reuse), so they are rejected here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BINNING_KEYS",
    "DEFAULT_SPACES",
    "ParamRange",
    "TuningSpec",
    "resolve_space",
    "suggest_params",
]

Scalar = bool | int | float | str
Choice = Scalar | list[Scalar]


class ParamRange(BaseModel):
    """One tuned parameter: an int range, a float range or a list of choices."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    int_range: tuple[int, int] | None = Field(None, alias="int")
    float_range: tuple[float, float] | None = Field(None, alias="float")
    categorical: list[Choice] | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [
            k
            for k, v in (
                ("int", self.int_range),
                ("float", self.float_range),
                ("categorical", self.categorical),
            )
            if v is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one of int: [low, high], float: [low, high] or "
                f"categorical: [choices], got {kinds or 'none'}"
            )
        if self.categorical is not None:
            if not self.categorical:
                raise ValueError("categorical needs at least one choice")
            if self.log or self.step is not None:
                raise ValueError("log and step apply to int and float ranges, not categorical")
            return self
        low, high = self.int_range if self.int_range is not None else self.float_range  # type: ignore[misc]
        if not low < high:
            raise ValueError(f"low must be below high, got [{low}, {high}]")
        if self.log and low <= 0:
            raise ValueError(f"log: true needs low > 0, got [{low}, {high}]")
        if self.log and self.step is not None:
            raise ValueError("step and log: true cannot be combined")
        if self.int_range is not None and self.step is not None and self.step != int(self.step):
            raise ValueError(f"an int range needs a whole step, got {self.step}")
        return self

    def describe(self) -> dict[str, Any]:
        """The range as written in YAML (for records and docs)."""
        out: dict[str, Any]
        if self.categorical is not None:
            return {"categorical": list(self.categorical)}
        out = (
            {"int": list(self.int_range)}
            if self.int_range
            else {"float": list(self.float_range or ())}
        )
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


class TuningSpec(BaseModel):
    """Tuning settings of one family (``training.tuning.<family>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trials: int = Field(20, ge=1, description="trials per study (per outer fold and final)")
    timeout_s: float | None = Field(
        None, gt=0, description="wall-clock cap per study; trial counts then vary between runs"
    )
    inner_splits: int = Field(3, ge=2, description="inner purged folds per study")
    pruner: Literal["median", "none"] = Field(
        "median", description="median: stop a trial whose running inner IC is below the median"
    )
    space: dict[str, ParamRange] | None = Field(
        None, description="param name -> range; default: the family's default space"
    )

    @model_validator(mode="after")
    def _no_binning_keys(self) -> Self:
        frozen = sorted(set(self.space or {}) & BINNING_KEYS)
        if frozen:
            raise ValueError(
                f"space tunes binning params {frozen}: one binned matrix serves every trial, "
                "so set them in family_params instead"
            )
        if self.space is not None and not self.space:
            raise ValueError("space is empty: name at least one param, or leave space out")
        return self


BINNING_KEYS = frozenset(
    {
        "max_bin",
        "max_bin_by_feature",
        "min_data_in_bin",
        "bin_construct_sample_cnt",
        "data_random_seed",
        "feature_pre_filter",
        "border_count",
        "feature_border_type",
        "max_cat_to_onehot",
        "nan_mode",
    }
)
"""Params that change how the features are binned (LightGBM, XGBoost, CatBoost)."""


def _r(kind: str, low: float, high: float, log: bool = False) -> ParamRange:
    data: dict[str, Any] = {kind: (low, high), "log": log}
    return ParamRange.model_validate(data)


DEFAULT_SPACES: Mapping[str, Mapping[str, ParamRange]] = {
    "lightgbm": {
        "num_leaves": _r("int", 4, 128, log=True),
        "learning_rate": _r("float", 0.01, 0.3, log=True),
        "min_data_in_leaf": _r("int", 10, 500, log=True),
        "feature_fraction": _r("float", 0.4, 1.0),
        "lambda_l2": _r("float", 1e-3, 100.0, log=True),
    },
    "xgboost": {
        "max_depth": _r("int", 2, 10),
        "learning_rate": _r("float", 0.01, 0.3, log=True),
        "min_child_weight": _r("float", 0.5, 200.0, log=True),
        "colsample_bytree": _r("float", 0.4, 1.0),
        "subsample": _r("float", 0.5, 1.0),
        "reg_lambda": _r("float", 1e-3, 100.0, log=True),
    },
    "catboost": {
        "depth": _r("int", 3, 10),
        "learning_rate": _r("float", 0.01, 0.3, log=True),
        "l2_leaf_reg": _r("float", 0.1, 100.0, log=True),
        "random_strength": _r("float", 0.1, 10.0, log=True),
    },
    "mlp": {
        "hidden_sizes": ParamRange(categorical=[[32], [64], [64, 32], [128, 64], [256, 128]]),
        "dropout": _r("float", 0.0, 0.5),
        "learning_rate": _r("float", 1e-4, 1e-2, log=True),
        "weight_decay": _r("float", 1e-6, 1e-2, log=True),
    },
}
"""Default search spaces by family name (the params are each family's own keys).
Ranges are wide on purpose: noisy panel targets often want far more
regularisation (few leaves, large leaves, slow learning) than the defaults."""


def resolve_space(family: str, spec: TuningSpec) -> dict[str, ParamRange]:
    """The space to search for ``family``: the configured one, else the default;
    a ``ValueError`` (turned into a config error by the caller) when neither exists."""
    if spec.space is not None:
        return dict(spec.space)
    if family in DEFAULT_SPACES:
        return dict(DEFAULT_SPACES[family])
    raise ValueError(
        f"family {family!r} has no default search space (defaults exist for "
        f"{', '.join(sorted(DEFAULT_SPACES))}): give training.tuning.{family}.space"
    )


def suggest_params(trial: Any, space: Mapping[str, ParamRange]) -> dict[str, Any]:
    """Draw one value per param from an Optuna ``trial`` (in the space's key order)."""
    out: dict[str, Any] = {}
    for name, rng in space.items():
        if rng.categorical is not None:
            # Optuna stores scalars only: list choices are drawn by their JSON text
            choices = [json.dumps(c) if isinstance(c, list) else c for c in rng.categorical]
            value = trial.suggest_categorical(name, choices)
            out[name] = rng.categorical[choices.index(value)]
        elif rng.int_range is not None:
            low, high = rng.int_range
            step = int(rng.step) if rng.step is not None else 1
            out[name] = int(trial.suggest_int(name, low, high, step=step, log=rng.log))
        else:
            low_f, high_f = rng.float_range or (0.0, 1.0)
            out[name] = float(trial.suggest_float(name, low_f, high_f, step=rng.step, log=rng.log))
    return out

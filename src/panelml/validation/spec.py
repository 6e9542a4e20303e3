"""ValidationConfig: the ``validation:`` section of an experiment YAML."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ValidationConfig(BaseModel):
    """How out-of-sample folds are made for every stage that fits models.

    The embargo is in bars (unique timestamps): ``embargo`` when given, else
    ``floor(embargo_pct * T)`` with T the number of unique timestamps (AFML 7.4).
    Purging always uses each target's own horizon.

    ``cpcv`` (combinatorial purged cross-validation, AFML ch. 12) cuts the
    timestamps into ``n_splits`` groups and tests every choice of
    ``n_test_groups`` of them, so each row gets one out-of-sample prediction on
    each of C(n_splits - 1, n_test_groups - 1) backtest paths.
    """

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["purged_kfold", "walk_forward", "cpcv"] = "purged_kfold"
    n_splits: int = Field(5, ge=2, le=50, description="folds; cpcv: groups")
    n_test_groups: int = Field(
        2, ge=1, description="cpcv only: how many of the n_splits groups each split tests"
    )
    embargo: int | None = Field(None, ge=0, description="embargo in bars; overrides embargo_pct")
    embargo_pct: float = Field(0.01, ge=0.0, lt=0.5)
    min_names: int = Field(5, ge=2, description="fewest names a timestamp needs to get an IC")

    @model_validator(mode="after")
    def _cpcv_groups(self) -> Self:
        if self.scheme == "cpcv" and self.n_test_groups >= self.n_splits:
            raise ValueError(
                f"cpcv tests n_test_groups = {self.n_test_groups} of n_splits = "
                f"{self.n_splits} groups per split, so it must be smaller; lower "
                "validation.n_test_groups or raise validation.n_splits"
            )
        return self

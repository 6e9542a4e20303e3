"""ValidationConfig: the ``validation:`` section of an experiment YAML."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ValidationConfig(BaseModel):
    """How out-of-sample folds are made for every stage that fits models.

    The embargo is in bars (unique timestamps): ``embargo`` when given, else
    ``floor(embargo_pct * T)`` with T the number of unique timestamps (AFML 7.4).
    Purging always uses each target's own horizon.
    """

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["purged_kfold", "walk_forward"] = "purged_kfold"
    n_splits: int = Field(5, ge=2, le=50)
    embargo: int | None = Field(None, ge=0, description="embargo in bars; overrides embargo_pct")
    embargo_pct: float = Field(0.01, ge=0.0, lt=0.5)
    min_names: int = Field(5, ge=2, description="fewest names a timestamp needs to get an IC")

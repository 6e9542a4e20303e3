"""The leakage screen's params and its per-check settings (see :mod:`panelml.stages.leakage`)."""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from panelml.pipeline.stage import StageParams
from panelml.stages.leakage._evidence import Policy, default_everywhere

__all__ = [
    "CheckName",
    "FutureInfo",
    "LeakageScreenParams",
    "NameRules",
    "NearCopy",
    "ShiftedCopy",
    "TooGood",
]


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class NameRules(_Check):
    """Flag features whose names look like labels."""

    prefixes: tuple[str, ...] = ("fwd_", "y_", "future_", "next_", "label", "target")
    use_target_patterns: bool = Field(True, description="also match the data.targets globs")


_KNOWN_MARGIN = Field(
    0.02,
    ge=0.0,
    lt=1.0,
    description="the copy must beat the |IC| with the closed window y[t-h] by this much",
)


class NearCopy(_Check):
    """Flag features almost equal (in rank) to the target."""

    threshold: float = Field(0.95, gt=0.0, le=1.0)
    known_margin: float = _KNOWN_MARGIN


class ShiftedCopy(_Check):
    """Flag features almost equal (in rank) to the target shifted by 0 < |l| < h bars."""

    threshold: float = Field(0.95, gt=0.0, le=1.0)
    known_margin: float = _KNOWN_MARGIN
    prefilter_margin: float = Field(
        0.2, ge=0.0, lt=1.0, description="exact check where the fast estimate is within this"
    )


class FutureInfo(_Check):
    """Flag features whose IC is tied to the label window (module docstring)."""

    model: Literal["persistence", "ratio"] = Field(
        "persistence", description="calibrated on the feature's persistence, or the fixed ratio"
    )
    min_abs_ic: float = Field(0.05, ge=0.0, le=1.0)
    z: float = Field(3.0, gt=0.0, description="shortfall in standard errors (persistence)")
    min_shortfall: float = Field(
        0.25, gt=0.0, le=1.0, description="shortfall as a share of the expectation (persistence)"
    )
    ratio: float = Field(3.0, gt=1.0, description="model 'ratio' only")
    floor: float = Field(0.02, gt=0.0, le=1.0, description="model 'ratio' only")


class TooGood(_Check):
    """Flag single features with an implausibly high rank IC (a suspicion only)."""

    regression_threshold: float = Field(0.3, gt=0.0, le=1.0)
    binary_threshold: float = Field(0.3, gt=0.0, le=1.0)
    by_target: dict[str, float] = Field(
        default_factory=dict, description="glob -> threshold; the first matching glob wins"
    )

    def threshold(self, target: str, kind: str | None) -> float:
        """The threshold for ``target``: a matching ``by_target`` glob, else by kind."""
        for pattern, value in self.by_target.items():
            if fnmatch.fnmatchcase(target, pattern):
                return value
        return self.binary_threshold if kind == "binary" else self.regression_threshold


CheckName = Literal[
    "name_rule", "near_copy", "shifted_copy", "corroborated", "future_info", "too_good"
]


class LeakageScreenParams(StageParams):
    """Parameters of ``leakage_screen`` (see the module docstring for the checks)."""

    policy: Policy = Field(
        "balanced", description="balanced: remove on proof; strict: on any finding; report_only"
    )
    trusted_features: list[str] = Field(
        default_factory=list, description="globs of point-in-time features heuristics never remove"
    )
    name_rules: NameRules = Field(default_factory=NameRules)
    near_copy: NearCopy = Field(default_factory=NearCopy)
    shifted_copy: ShiftedCopy = Field(default_factory=ShiftedCopy)
    future_info: FutureInfo = Field(default_factory=FutureInfo)
    too_good: TooGood = Field(default_factory=TooGood)
    max_rows_per_timestamp: int | None = Field(
        None, ge=2, description="cap names per timestamp (seeded subsample) on large panels"
    )
    targets: list[str] | None = Field(None, description="targets to screen (default: all)")
    exclude_everywhere: tuple[CheckName, ...] | None = Field(
        None, description="checks whose removal extends to every target (default: by policy)"
    )

    def everywhere(self) -> tuple[str, ...]:
        if self.exclude_everywhere is not None:
            return tuple(self.exclude_everywhere)
        return default_everywhere(self.policy)

"""FeatureSpec: which features and targets :func:`build_features` computes.

A pydantic model so the same settings can come from a YAML file
(``panelml features build PRICES --config features.yaml``) and are validated
before any data is read. Every window, lag and horizon counts *bars*: rows of
one symbol in timestamp order, not calendar time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(ge=1)]
TargetKind = Literal["fwd_ret", "fwd_vol", "y_up"]


class FeatureBuildError(ValueError):
    """The input prices or the spec cannot produce features (names the column or key)."""


def _all_target_kinds() -> list[TargetKind]:
    return ["fwd_ret", "fwd_vol", "y_up"]


def _unique_sorted(values: list[int]) -> list[int]:
    return sorted(set(values))


class CrossSectionalSpec(BaseModel):
    """Per-timestamp transforms of some features across symbols.

    ``features`` lists feature names or glob patterns (``ret_*``); None means
    every return, momentum and volatility feature. ``rank`` adds
    ``cs_rank_<f>``, the percentile rank in [0, 1] among the symbols with a
    value at that timestamp; ``zscore`` adds ``cs_z_<f>``. Both use only the
    rows of the same timestamp, so they are point-in-time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str] | None = None
    rank: bool = True
    zscore: bool = False


class FeatureSpec(BaseModel):
    """The features and targets to build from long-format prices.

    Feature names (windows in bars):

    * ``ret_<l>``: log return over the last l bars, log(close_t / close_{t-l}).
    * ``vol_<w>``: standard deviation of 1-bar log returns over w bars.
    * ``mom_<a>_<b>``: log return from t-a to t-b, i.e. the a-bar momentum that
      skips the most recent b bars (short-term reversal).
    * ``ma_gap_<n>``: close / simple moving average over n bars - 1.
    * ``rsi_<n>``: Wilder's relative strength index in [0, 100].
    * with ``volume``: ``volume_z_<w>`` (z-score of log(1 + volume) over w bars),
      ``volume_ratio_<s>_<w>`` (mean volume over s bars / over w bars),
      ``dollar_volume_<w>`` (log(1 + mean of close * volume over w bars)).
    * with ``high`` and ``low``: ``hl_range`` (log(high / low)) and
      ``parkinson_<w>`` (Parkinson volatility over w bars).
    * with ``open``: ``gap_ret`` (log(open_t / close_{t-1})) and ``intraday_ret``
      (log(close_t / open_t)).
    * cross-sectional ``cs_rank_<f>`` / ``cs_z_<f>`` (see :class:`CrossSectionalSpec`).

    Targets for each horizon h, covering (t, t+h]: ``fwd_ret_<h>``,
    ``fwd_vol_<h>``, ``y_up_<h>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    return_lags: list[PositiveInt] = Field(default_factory=lambda: [1, 5, 10, 20, 60])
    volatility_windows: list[Annotated[int, Field(ge=2)]] = Field(
        default_factory=lambda: [5, 20, 60]
    )
    momentum: list[tuple[PositiveInt, Annotated[int, Field(ge=0)]]] = Field(
        default_factory=lambda: [(60, 5), (120, 20)],
        description="(lookback, skip) pairs in bars, lookback > skip",
    )
    ma_windows: list[PositiveInt] = Field(default_factory=lambda: [10, 50, 200])
    rsi_windows: list[PositiveInt] = Field(default_factory=lambda: [14])
    volume_window: Annotated[int, Field(ge=2)] = 20
    volume_short_window: PositiveInt = 5
    range_windows: list[PositiveInt] = Field(
        default_factory=lambda: [5, 20], description="Parkinson volatility windows"
    )
    cross_sectional: CrossSectionalSpec = Field(default_factory=CrossSectionalSpec)
    horizons: list[PositiveInt] = Field(default_factory=lambda: [1, 5, 20])
    targets: list[TargetKind] = Field(default_factory=_all_target_kinds)
    dtype: Literal["float64", "float32"] = "float64"
    drop_warmup: bool = Field(
        False, description="drop each symbol's first warmup_bars() rows, where features are null"
    )
    keep_input_columns: bool = Field(
        False, description="keep the input price/volume columns in the output"
    )

    @field_validator(
        "return_lags",
        "volatility_windows",
        "ma_windows",
        "rsi_windows",
        "range_windows",
        "horizons",
    )
    @classmethod
    def _dedupe(cls, values: list[int]) -> list[int]:
        return _unique_sorted(values)

    @field_validator("momentum")
    @classmethod
    def _check_momentum(cls, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for lookback, skip in pairs:
            if lookback <= skip:
                raise ValueError(
                    f"momentum ({lookback}, {skip}): the lookback must exceed the skip"
                )
        return sorted(set(pairs))

    @model_validator(mode="after")
    def _check_volume_windows(self) -> FeatureSpec:
        if self.volume_short_window >= self.volume_window:
            raise ValueError(
                f"volume_short_window ({self.volume_short_window}) must be smaller than "
                f"volume_window ({self.volume_window})"
            )
        return self

    def warmup_bars(self, *, has_volume: bool = True, has_high_low: bool = True) -> int:
        """Bars of history the slowest feature needs before it has a value.

        Rows before that point (per symbol) are the warm-up that
        ``drop_warmup`` removes.
        """
        needs = [0]
        needs += self.return_lags
        needs += self.volatility_windows  # w returns need w + 1 closes
        needs += [lookback for lookback, _ in self.momentum]
        needs += [n - 1 for n in self.ma_windows]
        needs += self.rsi_windows
        if has_volume:
            needs.append(self.volume_window - 1)
        if has_high_low:
            needs += [w - 1 for w in self.range_windows]
        return max(needs)


def load_feature_spec(path: Path) -> FeatureSpec:
    """Read a FeatureSpec from YAML: the spec itself, or under a ``features:`` key.

    An empty file gives the defaults. Invalid keys raise pydantic's
    ValidationError, which names the offending key.
    """
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if raw is None:
        return FeatureSpec()
    if not isinstance(raw, dict):
        raise FeatureBuildError(f"{path}: expected a mapping of feature settings at the top level")
    if set(raw) == {"features"}:
        raw = raw["features"] or {}
    return FeatureSpec.model_validate(raw)

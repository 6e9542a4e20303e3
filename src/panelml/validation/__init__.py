"""Leakage-safe validation: splitters, per-timestamp metrics and FDR control.

- ``splitters``: purged k-fold, walk-forward and combinatorial purged CV on
  unique timestamps (AFML ch. 7), plus the inner early-stopping split.
- ``metrics``: per-timestamp (rank) IC, ICIR and Newey-West t (Qlib convention);
  ``pooled``: r2, mse, AUC, log loss, accuracy, hit rate.
- ``significance``: the one test of a mean out-of-fold IC (overlapping labels
  and the validation scheme's cross-fold correlation), used by every stage.
- ``multiple_testing``: Benjamini-Hochberg / Benjamini-Yekutieli.
- ``permutation``: shuffles within timestamps; ``timestamps``: shared helpers.
"""

from panelml.validation.metrics import (
    ICSeries,
    ICSummary,
    ic_series,
    ic_summary,
    per_symbol_ic,
    positive_share,
)
from panelml.validation.multiple_testing import adjust_pvalues, bh_adjust, by_adjust, reject
from panelml.validation.permutation import permute_each_within_timestamps, permute_within_timestamps
from panelml.validation.pooled import accuracy, auc, hit_rate, log_loss, mse, r2
from panelml.validation.significance import (
    ICSignificance,
    ICSignificanceMany,
    ic_significance,
    ic_significance_many,
    long_run_variance,
)
from panelml.validation.spec import ValidationConfig
from panelml.validation.splitters import (
    CombinatorialPurgedCV,
    PurgedKFold,
    Splitter,
    WalkForward,
    inner_validation_split,
    make_splitter,
    resolve_embargo,
)
from panelml.validation.timestamps import subsample_rows, timestamp_index

__all__ = [
    "CombinatorialPurgedCV",
    "ICSeries",
    "ICSignificance",
    "ICSignificanceMany",
    "ICSummary",
    "PurgedKFold",
    "Splitter",
    "ValidationConfig",
    "WalkForward",
    "accuracy",
    "adjust_pvalues",
    "auc",
    "bh_adjust",
    "by_adjust",
    "hit_rate",
    "ic_series",
    "ic_significance",
    "ic_significance_many",
    "ic_summary",
    "inner_validation_split",
    "log_loss",
    "long_run_variance",
    "make_splitter",
    "mse",
    "per_symbol_ic",
    "permute_each_within_timestamps",
    "permute_within_timestamps",
    "positive_share",
    "r2",
    "reject",
    "resolve_embargo",
    "subsample_rows",
    "timestamp_index",
]

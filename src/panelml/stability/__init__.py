"""Stability of feature selection and feature importance across folds and runs.

Importing this package registers the built-in ``stability_snapshots`` hook plugin.
"""

from panelml.stability.compare import (
    DiffThresholds,
    RunDiff,
    RunsError,
    classify,
    diff_runs,
    list_runs,
)
from panelml.stability.history import history_stability
from panelml.stability.hooks import StabilitySnapshots
from panelml.stability.measures import (
    StabilityEstimate,
    StabilityThresholds,
    jaccard_topk,
    kendall_tau_union,
    kuncheva_index,
    mean_pairwise_jaccard,
    nogueira_stability,
    psi,
    selection_frequency,
    selection_matrix,
    stability_warnings,
)
from panelml.stability.snapshots import SnapshotStore, SnapshotStoreError, snapshots_from_result

__all__ = [
    "DiffThresholds",
    "RunDiff",
    "RunsError",
    "SnapshotStore",
    "SnapshotStoreError",
    "StabilityEstimate",
    "StabilitySnapshots",
    "StabilityThresholds",
    "classify",
    "diff_runs",
    "history_stability",
    "jaccard_topk",
    "kendall_tau_union",
    "kuncheva_index",
    "list_runs",
    "mean_pairwise_jaccard",
    "nogueira_stability",
    "psi",
    "selection_frequency",
    "selection_matrix",
    "snapshots_from_result",
    "stability_warnings",
]

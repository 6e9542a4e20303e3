"""Stability of feature selection and feature importance across folds and runs."""

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

__all__ = [
    "StabilityEstimate",
    "StabilityThresholds",
    "jaccard_topk",
    "kendall_tau_union",
    "kuncheva_index",
    "mean_pairwise_jaccard",
    "nogueira_stability",
    "psi",
    "selection_frequency",
    "selection_matrix",
    "stability_warnings",
]

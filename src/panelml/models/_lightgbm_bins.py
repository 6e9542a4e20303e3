"""Binning a matrix into a LightGBM ``Dataset`` a column group at a time.

Why a module of its own: how a prepared matrix is binned is a memory decision
apart from the family's params, fitting and persistence
(:mod:`panelml.models.lightgbm`). LightGBM has no call that bins a matrix
without sampling every column at once, so the groups are joined by hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from panelml.data.matrix import FeatureMatrix, columns_of, whole
from panelml.pipeline.memory import release_free_memory

__all__ = ["BIN_GROUP_CELLS", "binned_dataset"]


BIN_GROUP_CELLS = 2_000_000
"""Matrix cells binned at once: LightGBM samples every column of a Dataset it
constructs as doubles with their row indices (12 bytes a sampled cell, up to
``bin_construct_sample_cnt`` rows), so a matrix binned in one call briefly
needed 3.8x its float32 size (200k x 100: 287 MiB). Column groups of about
this many cells cap that at ~24 MB plus an 8 MB copy of the group."""


def _column_groups(n_rows: int, n_cols: int, dataset_params: Mapping[str, Any]) -> list[range]:
    """Column ranges binned one at a time (one range where binning must see every
    column together: linear trees keep the raw matrix in the Dataset)."""
    if dataset_params.get("linear_tree") or n_cols == 0:
        return [range(n_cols)]
    sampled = min(n_rows, int(dataset_params.get("bin_construct_sample_cnt", 200_000)))
    width = max(1, BIN_GROUP_CELLS // max(1, sampled))
    return [range(lo, min(n_cols, lo + width)) for lo in range(0, n_cols, width)]


def binned_dataset(X: FeatureMatrix, dataset_params: Mapping[str, Any]) -> Any:
    """``X`` binned into a constructed ``lightgbm.Dataset``, a column group at a time.

    Each column's bins depend only on its own values and on the sampled row
    ids, which depend only on the row count and ``data_random_seed``; the groups
    are joined with ``Dataset.add_features_from`` and named ``Column_<j>`` as
    one call names them. Models trained on it are identical to models trained
    on a Dataset binned in one call (same trees, same model text; a test),
    exclusive-feature bundles included, at a fraction of the peak memory.
    ``X`` may be read by parts (:class:`~panelml.data.matrix.MatrixParts`): a
    group's columns are gathered when it is binned.
    """
    import lightgbm as lgb  # on first use: importing panelml stays cheap

    groups = _column_groups(int(X.shape[0]), int(X.shape[1]), dataset_params)
    by_feature = dataset_params.get("max_bin_by_feature")
    base: Any = None
    for group in groups:
        params = dict(dataset_params)
        if by_feature is not None and len(groups) > 1:
            params["max_bin_by_feature"] = list(by_feature)[group.start : group.stop]
        part = (
            whole(X)
            if len(groups) == 1
            else np.ascontiguousarray(columns_of(X, slice(group.start, group.stop)))
        )
        names = [f"Column_{j}" for j in group]
        dataset = lgb.Dataset(part, params=params, free_raw_data=True, feature_name=names)
        dataset.construct()
        del part
        if base is None:
            base = dataset
        else:
            with warnings.catch_warnings():
                # joining freed-raw-data Datasets: LightGBM warns that it keeps no raw
                # data (none is needed) and drops categorical features (none are set)
                warnings.simplefilter("ignore", UserWarning)
                base.add_features_from(dataset)
            del dataset
        release_free_memory()  # binning's freed samples: several times the bins' size
    if base is not None and len(groups) > 1:
        base.params = dict(dataset_params)  # the whole matrix's, as one call records them
    return base

"""How training records its folds and out-of-fold predictions, for every scheme.

Purged K-fold and walk-forward test each row once: the row's ``fold`` is the
split that tested it and its OOF prediction is that split's prediction.

Under ``cpcv`` (combinatorial purged CV) each split tests several groups of
timestamps, and each row is tested by C(N-1, k-1) splits, one per backtest path
(:class:`panelml.validation.CombinatorialPurgedCV`). Training then records

* each row's prediction on every path (``TargetFit.paths``: family -> an
  (n_paths, n_rows) array; the result's ``paths_<target>`` table);
* as the row's OOF prediction, the mean over its paths (each from a model that
  never saw the row's label window, so the mean is out-of-sample; see
  :func:`panelml.stages.fitting.path_mean` and, for its significance,
  :mod:`panelml.validation.significance`);
* as the row's ``fold``, its test group (0 .. n_splits-1), so the per-fold
  metric rows are per test group, the way a K-fold fold is its test block;
  the group's ``n_train`` is the mean training size of the splits that test it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.panel import Panel
from panelml.stages.fitting import FamilySpec, Fold

if TYPE_CHECKING:
    from panelml.stages.training._fit import TargetFit

FloatArray = npt.NDArray[np.float64]

__all__ = ["path_table", "record_folds", "record_prediction"]


def record_folds(result: TargetFit, folds: Sequence[Fold]) -> None:
    """Record which fold tested each row and the folds' training sizes."""
    if all(fold.groups is None for fold in folds):
        for fold in folds:
            result.fold_of_row[fold.test] = fold.index
            result.fold_n_train[fold.index] = result.fold_n_train.get(fold.index, 0) + int(
                fold.train.size
            )
        return
    sizes: dict[int, list[int]] = {}
    for fold in folds:
        assert fold.groups is not None and fold.paths is not None  # cpcv folds carry both
        result.fold_of_row[fold.test] = fold.groups
        result.n_paths = max(result.n_paths, int(fold.paths.max()) + 1)
        for group in np.unique(fold.groups):
            sizes.setdefault(int(group), []).append(int(fold.train.size))
    for group, trained in sizes.items():
        mean = round(sum(trained) / len(trained))
        result.fold_n_train[group] = result.fold_n_train.get(group, 0) + mean


def record_prediction(
    result: TargetFit,
    family: str,
    fold: Fold,
    predictions: FloatArray,
    best_iteration: int | None,
) -> None:
    """Record one fold model's test predictions and its best iteration."""
    per_fold = result.best_iterations.setdefault(family, {})
    if fold.paths is None or fold.groups is None:
        result.oof[family][fold.test] = predictions
        per_fold.setdefault(fold.index, []).append(best_iteration)
        return
    paths = result.paths.get(family)
    if paths is None:
        paths = result.paths[family] = np.full((result.n_paths, result.n_rows), np.nan)
    paths[fold.paths, fold.test] = predictions
    # the mean over the paths filled so far; complete once every split has run
    result.oof[family][fold.test] = np.nanmean(paths[:, fold.test], axis=0)
    for group in np.unique(fold.groups):
        per_fold.setdefault(int(group), []).append(best_iteration)


def path_table(panel: Panel, result: TargetFit, families: Sequence[FamilySpec]) -> pl.DataFrame:
    """``cpcv``: every tested row once per backtest path (symbol, timestamp, path, one
    column per family with that path's prediction), path by path."""
    rows = np.flatnonzero(result.fold_of_row >= 0)
    symbols = panel.symbol_names(panel.symbol_codes[rows]).alias("symbol")
    timestamps = panel.timestamps_as_series(panel.timestamps[rows], name="timestamp")
    frames = [
        pl.DataFrame(
            [
                symbols,
                timestamps,
                pl.Series("path", np.full(rows.size, path, dtype=np.int64)),
                *(
                    pl.Series(spec.name, result.paths[spec.name][path, rows], dtype=pl.Float64)
                    for spec in families
                ),
            ]
        )
        for path in range(result.n_paths)
    ]
    return pl.concat(frames)

"""Raw importances for feature selection: shadow features and per-fold importance
vectors of every configured (family, kind).

Shadows (Boruta, Kursa & Rudnicki 2010): every allowed feature gets a copy
whose link to the target is broken by a seeded shuffle *within timestamps*, so
each value stays in its own cross-section. Two shuffles:

* ``symbol`` (default): per shadow column one random permutation of the
  symbols, the same at every timestamp: the value of (t, s) is the original
  feature of symbol pi(s) at t (NaN where that symbol has no row at t). Each
  shadow keeps its source's time-series persistence. This matters on panels:
  a persistent noise feature scored against an overlapping-horizon target has
  a much noisier mean IC than an i.i.d. one, so shadows shuffled afresh at
  every timestamp (which lose persistence) set too low a bar and let
  persistent noise features through.
* ``row``: :func:`panelml.validation.permute_within_timestamps` per column
  (fresh shuffle at every timestamp; Boruta's plain shadows).

The model sees ``X_aug = [X_allowed | shadows]``, prepared once per feature set
and reused by every target and fold that shares it.

Kinds: any built-in importance of a family (``gain``, ``split``, ``coef``, ...),
``permutation`` (MDA on the fold's test rows: drop in mean per-timestamp rank IC
when one column is shuffled within timestamps; AFML ch. 8, REFERENCES.md) and the
model-free ``univariate``/``rank_ic`` (|mean per-timestamp rank IC| on the
fold's training rows) and ``univariate``/``partial_rank_ic`` (the pooled
regression of the target's cross-sectional ranks on all columns' ranks and
squared ranks on the fold's training rows: partial rank correlations, see
:func:`~panelml.stages.selection._additive.partial_rank_importance`).
Permutation is predict-bound (PERFORMANCE.md), so only the
``permutation_top_k`` real and the ``permutation_top_k`` shadow columns with the
highest built-in importance of the same model are shuffled (others get 0), on
at most ``permutation_max_rows_per_timestamp`` test rows per timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix, nan_free, part_of
from panelml.data.panel import Panel
from panelml.data.shift import row_grid
from panelml.models.base import ModelFamily, PreparedData, Task
from panelml.stages.fitting import Fold
from panelml.stages.selection._rank_block import RankBlock
from panelml.validation.batch_ic import RankIC
from panelml.validation.metrics import ic_series, ic_series_many
from panelml.validation.permutation import (
    permute_each_within_timestamps,
    permute_within_timestamps,
)
from panelml.validation.timestamps import subsample_rows, timestamp_index

UNIVARIATE = "univariate"
PERMUTATION = "permutation"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def shadow_matrix(
    panel: Panel,
    columns: IntArray,
    rng: np.random.Generator,
    shuffle: Literal["symbol", "row"] = "symbol",
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Shadow copies of panel columns ``columns`` (rows x len(columns), float32),
    written into ``out`` when given (a column block of a larger matrix)."""
    if out is None:
        out = np.empty((panel.n_rows, columns.size), dtype=np.float32)
    if shuffle == "row":
        for j, col in enumerate(columns):
            out[:, j] = permute_within_timestamps(panel.X[:, col], panel.timestamps, rng)
        return out
    grid = row_grid(panel)
    t = panel.timestamp_index
    s = panel.symbol_codes.astype(np.int64)
    for j, col in enumerate(columns):
        perm = rng.permutation(panel.n_symbols)
        source = grid[t, perm[s]]
        found = source >= 0
        values = np.where(found, panel.X[np.where(found, source, 0), col], np.float32(np.nan))
        out[:, j] = values
    return out


def mean_rank_ic(
    x: npt.ArrayLike, y: npt.ArrayLike, timestamps: npt.ArrayLike, min_names: int
) -> float:
    """Mean per-timestamp Spearman IC (0.0 when no timestamp is defined)."""
    series = ic_series(x, y, timestamps, method="rank", min_names=min_names)
    return float(series.values.mean()) if len(series) else 0.0


def univariate_importance(
    X_aug: FeatureMatrix,
    y: FloatArray,
    timestamps: IntArray,
    rows: IntArray,
    folds: Sequence[Fold],
    min_names: int,
    block: RankBlock | None = None,
) -> FloatArray:
    """(n_folds, n_columns): |mean rank IC| of every column on each fold's training
    rows (no model).

    Folds split whole timestamps, so a fold's per-timestamp ICs are the ones of
    all ``rows`` at its training timestamps: every column's series is computed
    once and each fold averages its own timestamps, instead of one IC call per
    (fold, column). With the target's ``block`` (of the same rows), a column
    with no missing value on them takes its series from the block's
    standardised ranks (the mean of ``z_x * z_y`` over a timestamp is its
    Spearman IC); the other columns, or all without a block, are ranked afresh
    in one batched call (:class:`~panelml.validation.batch_ic.RankIC`).
    """
    n_cols = X_aug.shape[1]
    ts = np.asarray(timestamps)
    unique = np.unique(ts[rows])
    per_t = np.full((unique.size, n_cols), np.nan)
    exact = list(range(n_cols))
    if block is not None and block.rows.size:
        complete = np.ones(n_cols, dtype=bool)
        # only columns that may hold NaN are read (a matrix read by parts knows
        # which hold none)
        known = nan_free(X_aug)
        check = np.arange(n_cols) if known is None else np.flatnonzero(~known)
        step = max(1, _UNIVARIATE_CHUNK_CELLS // max(1, check.size))
        for lo in range(0, block.rows.size if check.size else 0, step):
            part = part_of(X_aug, block.rows[lo : lo + step], check)
            complete[check] &= ~np.isnan(part).any(axis=0)
        exact = [int(j) for j in np.flatnonzero(~complete)]
        fast = np.flatnonzero(complete)
        codes, present = timestamp_index(ts[block.rows])
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        counts = np.diff(np.r_[starts, codes.size])[:, None]
        target_spread = np.add.reduceat(block.target * block.target, starts) > 0
        at = np.searchsorted(unique, present)
        # products and per-timestamp sums in the block's dtype (float32 in the
        # stage: a few hundred terms per sum, error ~1e-7), no float64 copy
        dtype = compute_dtype(block.z)
        target: npt.NDArray[np.floating[Any]] = block.target.astype(dtype)[:, None]
        # whole timestamps of rows at a time, all their fast columns at once: a
        # contiguous read of the row-major block (a column chunk of every row
        # would read it strided, 4x slower); per-timestamp sums are the same
        bounds = np.r_[starts, codes.size]
        every = fast.size == n_cols
        step = max(1, _UNIVARIATE_CHUNK_CELLS // max(1, fast.size * int(counts.max())))
        for g0 in range(0, starts.size if fast.size else 0, step):
            g1 = min(starts.size, g0 + step)
            r0, r1 = int(bounds[g0]), int(bounds[g1])
            rows_z = block.z[r0:r1] if every else block.z[r0:r1][:, fast]
            z: npt.NDArray[np.floating[Any]] = np.asarray(rows_z, dtype=dtype)
            within = starts[g0:g1] - r0
            ic = np.add.reduceat(z * target[r0:r1], within, axis=0) / counts[g0:g1]
            # a column constant in a timestamp has every z = 0 there, so its sum
            # is exactly 0: only columns with such a sum are read again
            spread = np.repeat(target_spread[g0:g1, None], fast.size, axis=1)
            zero = np.flatnonzero(((ic == 0) & spread).any(axis=0))
            if zero.size:
                spread[:, zero] &= np.logical_or.reduceat(z[:, zero] != 0, within, axis=0)
            per_t[np.ix_(at[g0:g1], fast)] = np.where(spread, np.clip(ic, -1.0, 1.0), np.nan)
    for j, found in RankIC(ts, min_names, rows).many(X_aug, exact, y).items():
        per_t[np.searchsorted(unique, found.timestamps), j] = found.values
    out = np.zeros((len(folds), n_cols))
    for i, fold in enumerate(folds):
        values = per_t[np.isin(unique, ts[fold.train])]
        defined = np.isfinite(values)
        n = defined.sum(axis=0)
        total = np.where(defined, values, 0.0).sum(axis=0)
        out[i] = np.abs(np.divide(total, n, out=np.zeros(n_cols), where=n > 0))
    return out


_UNIVARIATE_CHUNK_CELLS = 4_000_000
"""Block cells read at once by the univariate rank IC (16 MB in float32)."""


def compute_dtype(a: npt.NDArray[Any]) -> np.dtype[np.floating[Any]]:
    """The dtype products of ``a`` are taken in: float32 for a float32 array (its
    values are float32 already), float64 for anything else."""
    return np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)


@dataclass(frozen=True)
class PermutationSettings:
    """How permutation importance is computed (see the module docstring)."""

    top_k: int = 20
    max_rows_per_timestamp: int | None = 200
    repeats: int = 1


_PERMUTATION_BATCH_CELLS = 4_000_000
"""Predictions scored in one grouped IC call (32 MB of float64)."""


def permutation_importance(
    model: ModelFamily,
    X_test: npt.NDArray[np.float32],
    y: FloatArray,
    timestamps: IntArray,
    test: IntArray,
    n_real: int,
    settings: PermutationSettings,
    rng: np.random.Generator,
    min_names: int,
    scratch: bool = False,
    predicted: FloatArray | None = None,
) -> FloatArray:
    """Drop in mean rank IC on ``test`` when each candidate column is shuffled
    within timestamps (mean over repeats); 0 for columns not evaluated.
    ``X_test`` holds the rows ``test`` of the matrix. It is not modified, unless
    ``scratch``: then a C-ordered float32 ``X_test`` is shuffled in place, one
    column at a time, and each column is restored after its predictions, which
    saves a copy of the test rows (a 32 MB copy per fold at 40k x 200).
    ``predicted``: the model's predictions on ``X_test`` when the caller has
    them (the out-of-fold ones), so the unshuffled rows are not predicted again
    when every test row is scored."""
    n_cols = X_test.shape[1]
    out = np.zeros(n_cols)
    rows = test
    keep = None
    if settings.max_rows_per_timestamp is not None:
        keep = subsample_rows(
            timestamps[test],
            max_rows_per_timestamp=settings.max_rows_per_timestamp,
            seed=int(rng.integers(2**31)),
        )
        rows = test[keep]
    if keep is not None and keep.size < test.size:
        X_test = np.ascontiguousarray(X_test[keep], dtype=np.float32)
    elif not (
        scratch
        and X_test.dtype == np.float32
        and X_test.flags.c_contiguous
        and X_test.flags.writeable
    ):
        X_test = np.array(X_test, dtype=np.float32, order="C")  # shuffled in place below
    ts, yt = timestamps[rows], y[rows]
    every_row = keep is None or keep.size == test.size
    unshuffled = predicted if predicted is not None and every_row else model.predict(X_test)
    base = mean_rank_ic(unshuffled, yt, ts, min_names)
    # Every (column, repeat) copy is shuffled with the draws one-at-a-time
    # scoring would use, all at once from the columns read out contiguously
    # (which also restore them). Each copy is predicted with its column swapped
    # into the test matrix in place (then restored), so no stacked copy of the
    # matrix is made; a batch of predictions is scored in one call that ranks
    # the labels once.
    columns = [
        col
        for col in _candidates(model, n_real, n_cols, settings.top_k)
        for _ in range(settings.repeats)
    ]
    originals = np.ascontiguousarray(X_test[:, columns].T)
    shuffled = permute_each_within_timestamps(originals, ts, rng)
    n = X_test.shape[0]
    per_batch = max(1, _PERMUTATION_BATCH_CELLS // max(1, n))
    drops: dict[int, list[float]] = {}
    for start in range(0, len(columns), per_batch):
        batch = range(start, min(len(columns), start + per_batch))
        predictions = np.empty((len(batch), n))
        for i, job in enumerate(batch):
            col = columns[job]
            X_test[:, col] = shuffled[job]
            predictions[i] = model.predict(X_test)
            X_test[:, col] = originals[job]
        scored = ic_series_many(predictions, yt, ts, min_names=min_names)
        for job, series in zip(batch, scored, strict=True):
            col = columns[job]
            ics = series.values
            drops.setdefault(col, []).append(base - (float(ics.mean()) if ics.size else 0.0))
    for col, values in drops.items():
        out[col] = float(np.mean(values))
    return out


def _candidates(model: ModelFamily, n_real: int, n_cols: int, top_k: int) -> list[int]:
    """The top_k real and top_k shadow columns by the model's built-in importance
    (all columns when the family has none)."""
    if not model.importance_kinds:
        return list(range(n_cols))
    score = model.importance()
    real = np.arange(n_real)
    shadow = np.arange(n_real, n_cols)
    chosen: list[int] = []
    for block in (real, shadow):
        order = block[np.lexsort((block, -score[block]))]
        chosen.extend(int(c) for c in order[:top_k])
    return chosen


@dataclass(frozen=True)
class FamilyPlan:
    """One model family to fit on every fold, and the kinds read from each fit."""

    name: str
    family: type[ModelFamily]
    kinds: tuple[str, ...]
    params: Mapping[str, Any]


def family_importances(
    plan: FamilyPlan,
    task: Task,
    prepared: PreparedData,
    y: FloatArray,
    timestamps: IntArray,
    folds: Sequence[Fold],
    n_real: int,
    settings: PermutationSettings,
    seeds: Sequence[int],
    min_names: int,
    oof: FloatArray | None = None,
) -> dict[str, FloatArray]:
    """kind -> (n_folds, n_columns) raw importances of ``plan``'s family.

    ``oof`` (one entry per panel row), when given, receives each fold model's
    predictions on its test rows: the out-of-fold predictions of the family.
    """
    out = {kind: np.zeros((len(folds), prepared.n_features)) for kind in plan.kinds}
    for i, fold in enumerate(folds):
        model = plan.family(task, plan.params)
        model.fit_prepared(prepared, fold.fit, y, eval_rows=fold.val, seed=seeds[i])
        # the test rows are read once for the predictions and the permutations
        X_test = None
        if oof is not None or PERMUTATION in plan.kinds:
            X_test = prepared.rows(fold.test)
        predicted = None
        if oof is not None and X_test is not None:
            predicted = model.predict(np.asarray(X_test, dtype=np.float32))
            oof[fold.test] = predicted
        for kind in plan.kinds:
            if kind == PERMUTATION and X_test is not None:
                rng = np.random.default_rng(seeds[i] + 1)
                out[kind][i] = permutation_importance(
                    model, X_test, y, timestamps, fold.test, n_real, settings, rng, min_names,
                    scratch=True,  # this fold's own copy of its test rows
                    predicted=predicted,
                )  # fmt: skip
            else:
                out[kind][i] = model.importance(kind)
    return out

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
:func:`partial_rank_importance`). Permutation is predict-bound (PERFORMANCE.md), so only
the ``permutation_top_k`` real and the ``permutation_top_k`` shadow columns with
the highest built-in importance of the same model are shuffled (others get 0),
on at most ``permutation_max_rows_per_timestamp`` test rows per timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.panel import Panel
from panelml.data.shift import row_grid
from panelml.models.base import ModelFamily, PreparedData, Task
from panelml.stages.fitting import Fold
from panelml.validation.metrics import ic_series
from panelml.validation.permutation import permute_within_timestamps
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
) -> npt.NDArray[np.float32]:
    """Shadow copies of panel columns ``columns`` (rows x len(columns), float32)."""
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
        values = np.full(panel.n_rows, np.nan, dtype=np.float32)
        found = source >= 0
        values[found] = panel.X[source[found], col]
        out[:, j] = values
    return out


def mean_rank_ic(
    x: npt.ArrayLike, y: npt.ArrayLike, timestamps: npt.ArrayLike, min_names: int
) -> float:
    """Mean per-timestamp Spearman IC (0.0 when no timestamp is defined)."""
    series = ic_series(x, y, timestamps, method="rank", min_names=min_names)
    return float(series.values.mean()) if len(series) else 0.0


def univariate_importance(
    X_aug: npt.NDArray[np.float32],
    y: FloatArray,
    timestamps: IntArray,
    rows: IntArray,
    min_names: int,
) -> FloatArray:
    """|mean rank IC| of every column on ``rows`` (no model)."""
    ts, yr = timestamps[rows], y[rows]
    block = X_aug[rows]
    return np.array(
        [abs(mean_rank_ic(block[:, j], yr, ts, min_names)) for j in range(block.shape[1])]
    )


@dataclass(frozen=True)
class RankBlock:
    """Rows of one target with the target and every column replaced by their
    cross-sectional ranks, standardised within each timestamp (missing -> 0)."""

    rows: IntArray  # panel row ids, ascending
    Z: npt.NDArray[np.float64]  # (len(rows), 2 n_columns): ranks z, then z**2 - 1
    target: FloatArray  # (len(rows),)


def rank_block(
    X_aug: npt.NDArray[np.float32],
    y: FloatArray,
    timestamps: IntArray,
    rows: IntArray,
    min_names: int,
) -> RankBlock:
    """The :class:`RankBlock` of ``rows`` (labelled rows only; timestamps with fewer
    than ``min_names`` of them are dropped). Folds split whole timestamps, so the
    ranks of a fold's training rows are the rows of this block in that fold."""
    n_cols = X_aug.shape[1]
    keep = np.sort(rows[np.isfinite(y[rows])])
    columns = {f"c{j}": X_aug[keep, j] for j in range(n_cols)}
    frame = pl.DataFrame({"row": keep, "t": timestamps[keep], "y": y[keep], **columns})
    frame = frame.with_columns(pl.all().exclude("row", "t").fill_nan(None))
    frame = frame.filter(pl.len().over("t") >= min_names)

    def standardised_rank(name: str) -> pl.Expr:
        r = pl.col(name).rank("average").over("t")
        mean, sd = r.mean().over("t"), r.std(ddof=0).over("t")
        return ((r - mean) / pl.when(sd > 0).then(sd).otherwise(None)).fill_null(0.0).alias(name)

    ranked = frame.select("row", *[standardised_rank(c) for c in ["y", *columns]])
    Z = ranked.select(list(columns)).to_numpy().astype(np.float64).reshape(ranked.height, n_cols)
    Z = np.hstack([Z, Z * Z - 1.0])
    return RankBlock(
        rows=ranked["row"].to_numpy().astype(np.int64),
        Z=Z,
        target=ranked["y"].to_numpy().astype(np.float64),
    )


def partial_rank_importance(block: RankBlock, rows: IntArray, ridge: float = 1e-3) -> FloatArray:
    """Partial rank importance of every column for the target on ``rows``.

    The block's standardised target ranks are regressed on all columns' ranks z
    *and* their U-shaped transforms z**2 - 1 at once (pooled least squares over
    the rows of ``rows``, a tiny ridge ``ridge * n`` for stability); a column's
    importance is ``hypot(b_z, b_z2)``. The coefficients are rank correlations
    with the target *given the other columns*: a noise feature that only
    borrows a signal feature's marginal IC through a shared factor gets about 0,
    unlike :func:`univariate_importance`; ranks make it robust to the heavy
    tails of square and product terms that upset a raw ridge, and the z**2 term
    sees a symmetric (square) effect that has no linear rank IC. Shadows get
    the same treatment, so the null is unchanged.
    """
    n_cols = block.Z.shape[1] // 2
    mask = np.isin(block.rows, rows, assume_unique=True)
    if not mask.any() or n_cols == 0:
        return np.zeros(n_cols)
    Z, target = block.Z[mask], block.target[mask]
    gram = Z.T @ Z
    gram[np.diag_indices_from(gram)] += ridge * Z.shape[0]
    coef = np.linalg.solve(gram, Z.T @ target)
    out: FloatArray = np.hypot(coef[:n_cols], coef[n_cols:])
    return out


@dataclass(frozen=True)
class PermutationSettings:
    """How permutation importance is computed (see the module docstring)."""

    top_k: int = 20
    max_rows_per_timestamp: int | None = 200
    repeats: int = 1


_PERMUTATION_BATCH_CELLS = 20_000_000
"""Cells of the stacked matrix predicted at once (80 MB of float32)."""


def permutation_importance(
    model: ModelFamily,
    X_aug: npt.NDArray[np.float32],
    y: FloatArray,
    timestamps: IntArray,
    test: IntArray,
    n_real: int,
    settings: PermutationSettings,
    rng: np.random.Generator,
    min_names: int,
) -> FloatArray:
    """Drop in mean rank IC on ``test`` when each candidate column is shuffled
    within timestamps (mean over repeats); 0 for columns not evaluated."""
    n_cols = X_aug.shape[1]
    out = np.zeros(n_cols)
    rows = test
    if settings.max_rows_per_timestamp is not None:
        keep = subsample_rows(
            timestamps[test],
            max_rows_per_timestamp=settings.max_rows_per_timestamp,
            seed=int(rng.integers(2**31)),
        )
        rows = test[keep]
    X_test = np.array(X_aug[rows], dtype=np.float32, order="C")
    ts, yt = timestamps[rows], y[rows]
    base = mean_rank_ic(model.predict(X_test), yt, ts, min_names)
    # Every (column, repeat) copy is shuffled in the same order as one-at-a-time
    # scoring would, then copies are predicted and scored in stacked batches:
    # one predict and one grouped IC per batch instead of one per copy.
    jobs = [
        (col, permute_within_timestamps(X_test[:, col], ts, rng))
        for col in _candidates(model, n_real, n_cols, settings.top_k)
        for _ in range(settings.repeats)
    ]
    codes, unique = timestamp_index(ts)
    per_batch = max(1, _PERMUTATION_BATCH_CELLS // max(1, X_test.size))
    drops: dict[int, list[float]] = {}
    for start in range(0, len(jobs), per_batch):
        batch = jobs[start : start + per_batch]
        stacked = np.tile(X_test, (len(batch), 1))
        n = X_test.shape[0]
        for i, (col, shuffled) in enumerate(batch):
            stacked[i * n : (i + 1) * n, col] = shuffled
        groups = (np.arange(len(batch))[:, None] * unique.size + codes[None, :]).ravel()
        series = ic_series(
            model.predict(stacked), np.tile(yt, len(batch)), groups, min_names=min_names
        )
        copy_of = series.timestamps // unique.size
        for i, (col, _) in enumerate(batch):
            values = series.values[copy_of == i]
            drops.setdefault(col, []).append(base - (float(values.mean()) if values.size else 0.0))
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
        if oof is not None:
            oof[fold.test] = model.predict(np.asarray(prepared.X[fold.test], dtype=np.float32))
        for kind in plan.kinds:
            if kind == PERMUTATION:
                rng = np.random.default_rng(seeds[i] + 1)
                out[kind][i] = permutation_importance(
                    model, prepared.X, y, timestamps, fold.test, n_real, settings, rng, min_names
                )
            else:
                out[kind][i] = model.importance(kind)
    return out

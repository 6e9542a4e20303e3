"""The additive rank model of a fold, shared by the partial and the pairwise rank IC.

Both kinds start from the same least squares: the target's standardised
cross-sectional ranks regressed on every column's ranks z and z**2 - 1 over a
fold's training rows of the target's
:class:`~panelml.stages.selection._rank_block.RankBlock`, with a tiny ridge
``ridge * n``. The partial rank IC reads its coefficients; the pairwise kind
looks for products in what it leaves unexplained. So a fold task solves it
once (:func:`additive_rank_fit`) and hands the coefficients to both.

Cost: the normal equations of the block's (rows x 2 columns) design are the
work (a 160k x 400 ``Z^T Z`` per fold at 200k rows). A fold's training rows
are most of the block, so :class:`NormalEquations` of the whole block are
formed once per target and each fold subtracts those of the rows it leaves
out (its test block, purge and embargo: about a quarter of the rows with five
folds), which does a quarter of the work per fold. Rows are read in chunks
(:func:`design_chunks`: each chunk's squares are formed as it is read, since
the block stores only ``z``), so no copy of the whole block is ever made.

Precision: a float32 block (the stage's) is multiplied in float32, chunk by
chunk, and the chunks' products are summed in float64; a float64 block is
multiplied in float64. A chunk's float32 product carries a relative rounding
error of about 1e-7 (measured against float64 at 160k x 400: 6e-8 of the
largest entry), far below the ranks' own float32 rounding, and the float32
products run 2.5-3x faster than casting each chunk to float64 (0.22 s against
0.54-0.67 s for a 160k x 400 ``Z^T Z``, 1 thread), with no cast copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.stages.selection._importance import compute_dtype
from panelml.stages.selection._rank_block import RankBlock, with_squares

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHUNK_CELLS = 2_000_000
"""Cells of a row chunk read (and cast, for a block that is neither float32 nor
float64) at once (16 MB in float64)."""

ComputeArray = npt.NDArray[np.floating[Any]]  # float32 or float64


def row_chunks(
    a: npt.NDArray[np.floating[Any]], rows: IntArray, width: int | None = None
) -> Iterator[tuple[int, int, ComputeArray]]:
    """(lo, hi, a[rows[lo:hi]] in :func:`compute_dtype`) in chunks of about
    :data:`CHUNK_CELLS` cells (of ``width`` columns, default ``a``'s), so no
    more than one chunk of ``a`` is ever copied at once. When ``rows`` is one
    ascending run of consecutive rows, chunks are slices (views, no copy)."""
    step = max(1, CHUNK_CELLS // max(1, a.shape[1] if width is None else width))
    dtype = compute_dtype(a)
    run = rows.size > 0 and int(rows[-1]) - int(rows[0]) + 1 == rows.size
    run = run and bool(np.all(np.diff(rows) == 1))
    for lo in range(0, rows.size, step):
        hi = min(rows.size, lo + step)
        part = a[rows[0] + lo : rows[0] + hi] if run else a[rows[lo:hi]]
        yield lo, hi, np.asarray(part, dtype=dtype)


def design_chunks(block: RankBlock, rows: IntArray) -> Iterator[tuple[int, int, ComputeArray]]:
    """:func:`row_chunks` of the block's design ``[z, z**2 - 1]`` at positions
    ``rows``: each chunk's squares are formed as it is read
    (:meth:`~panelml.stages.selection._rank_block.RankBlock.design`)."""
    for lo, hi, part in row_chunks(block.z, rows, 2 * block.n_columns):
        yield lo, hi, with_squares(part)


@dataclass(frozen=True)
class NormalEquations:
    """``Z^T Z`` and ``Z^T target`` over a set of block rows, and their count."""

    gram: FloatArray
    moment: FloatArray
    n: int


def normal_equations(block: RankBlock, rows: IntArray) -> NormalEquations:
    """The :class:`NormalEquations` of the block rows at positions ``rows``."""
    width = 2 * block.n_columns
    gram, moment = np.zeros((width, width)), np.zeros(width)
    for lo, hi, part in design_chunks(block, rows):
        gram += part.T @ part  # one chunk's product in its dtype, summed in float64
        moment += part.T @ np.asarray(block.target[rows[lo:hi]], dtype=part.dtype)
    return NormalEquations(gram, moment, int(rows.size))


def whole_block(block: RankBlock) -> NormalEquations:
    """The :class:`NormalEquations` of every row of ``block`` (once per target)."""
    return normal_equations(block, np.arange(block.rows.size))


def additive_rank_fit(
    block: RankBlock,
    rows: IntArray,
    ridge: float = 1e-3,
    whole: NormalEquations | None = None,
) -> FloatArray | None:
    """Coefficients (2 columns: z, then z**2 - 1) of the additive rank model on the
    block rows that are panel rows ``rows``; ``None`` when none is.

    With ``whole`` (:func:`whole_block` of the same block) and rows that leave
    out fewer rows than they keep, the normal equations are the whole block's
    minus those of the rows left out; the same solution to rounding.
    """
    inside = np.isin(block.rows, rows, assume_unique=True)
    train = np.flatnonzero(inside)
    if train.size == 0:
        return None
    rest = np.flatnonzero(~inside)
    if whole is not None and whole.n == block.rows.size and rest.size < train.size:
        out = normal_equations(block, rest)
        gram, moment = whole.gram - out.gram, whole.moment - out.moment
    else:
        fit = normal_equations(block, train)
        gram, moment = fit.gram, fit.moment
    gram[np.diag_indices_from(gram)] += ridge * train.size
    coef: FloatArray = np.asarray(np.linalg.solve(gram, moment), dtype=np.float64)
    return coef


def partial_rank_importance(
    block: RankBlock, rows: IntArray, coef: FloatArray | None = None
) -> FloatArray:
    """Partial rank importance of every column for the target on ``rows``.

    The block's standardised target ranks are regressed on all columns' ranks z
    *and* their U-shaped transforms z**2 - 1 at once (:func:`additive_rank_fit`
    on ``rows``, or its ``coef`` when the caller has them); a column's
    importance is ``hypot(b_z, b_z2)``. The coefficients are rank correlations
    with the target *given the other columns*: a noise feature that only
    borrows a signal feature's marginal IC through a shared factor gets about
    0, unlike the univariate rank IC; ranks make it robust to the heavy tails
    of square and product terms that upset a raw ridge, and the z**2 term sees
    a symmetric (square) effect that has no linear rank IC. Shadows get the
    same treatment, so the null is unchanged.
    """
    n_cols = block.n_columns
    if coef is None:
        coef = additive_rank_fit(block, rows)
    if coef is None or n_cols == 0:
        return np.zeros(n_cols)
    out: FloatArray = np.hypot(coef[:n_cols], coef[n_cols:])
    return out

"""The additive rank model of a fold, shared by the partial and the pairwise rank IC.

Both kinds start from the same least squares: the target's standardised
cross-sectional ranks regressed on every column's ranks z and z**2 - 1 over a
fold's training rows of the target's
:class:`~panelml.stages.selection._rank_block.RankBlock`, with a tiny ridge
``ridge * n``. The partial rank IC reads its coefficients; the pairwise kind
looks for products in what it leaves unexplained. So a fold task solves it
once (:func:`additive_rank_fit`) and hands the coefficients to both.

Cost: the normal equations of the block's (rows x 2 columns) design are the
work (a 160k x 400 ``Z^T Z`` per fold at 200k rows). Three things keep it down:

- *Fold segments.* A fold's training rows are most of the block, so the
  equations of its training rows are the whole block's minus those of the rows
  it leaves out (its test block, purge and embargo). The whole block's are
  formed once per target as the sum of its folds' test blocks'
  (:func:`whole_block`), and a fold reads its own test block's from there, so
  only its purge and embargo rows are multiplied again: about 1.1 passes over
  the block per target instead of 2.25 (the whole block, then a quarter of it
  per fold with five folds).
- *No design matrix.* With ``s = z**2 - 1``, ``Z^T Z`` has the blocks
  ``z^T z``, ``z^T s = z^T q - sum(z)`` and ``s^T s = q^T q - sum(q) - sum(q)^T
  + n`` (``q = z**2``), so a chunk is multiplied as three (columns x columns)
  products of ``z`` and ``q`` (two of them symmetric): the multiply-adds of
  the symmetric (2 columns)**2 product, without forming the design (its copy
  and its -1 pass cost about a quarter as much again). ``z`` is read in place
  (a view where the rows are consecutive) and ``q`` formed in one reused
  buffer.
- *Row chunks* (:func:`squared_chunks`), so no copy of the whole block is made.

Precision: a float32 block (the stage's) is multiplied in float32, chunk by
chunk, and the chunks' products are summed in float64; a float64 block is
multiplied in float64. A chunk's float32 product carries a relative rounding
error of about 1e-7 (measured against float64 at 160k x 400: 6e-8 of the
largest entry), far below the ranks' own float32 rounding, and the float32
products run 2.5-3x faster than casting each chunk to float64, with no cast
copy. ``s^T s`` from ``q^T q`` subtracts terms about twice its size (``q`` has
mean 1 and is at most 3 for standardised ranks), which doubles that relative
error at most.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.stages.selection._importance import compute_dtype
from panelml.stages.selection._rank_block import RankBlock

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


def squared_chunks(
    block: RankBlock, rows: IntArray
) -> Iterator[tuple[int, int, ComputeArray, ComputeArray]]:
    """(lo, hi, z, q) for the block rows at positions ``rows[lo:hi]``, in row
    chunks of :func:`row_chunks`: ``z`` their ranks, ``q = z**2``. ``q`` lives in
    one buffer reused by every chunk (and ``z`` may be a view of the block), so a
    consumer uses both before it asks for the next chunk."""
    buffer: ComputeArray | None = None
    for lo, hi, z in row_chunks(block.z, rows, 2 * block.n_columns):
        if buffer is None:  # the first chunk is the largest
            buffer = np.empty_like(z)
        q = buffer[: hi - lo]
        np.multiply(z, z, out=q)
        yield lo, hi, z, q


@dataclass(frozen=True)
class NormalEquations:
    """``Z^T Z`` and ``Z^T target`` over a set of block rows, and their count."""

    gram: FloatArray
    moment: FloatArray
    n: int

    def __add__(self, other: NormalEquations) -> NormalEquations:
        """The equations of both row sets together (disjoint sets)."""
        return NormalEquations(self.gram + other.gram, self.moment + other.moment, self.n + other.n)

    def __sub__(self, other: NormalEquations) -> NormalEquations:
        """The equations of these rows less ``other``'s (a subset of them)."""
        return NormalEquations(self.gram - other.gram, self.moment - other.moment, self.n - other.n)


def normal_equations(block: RankBlock, rows: IntArray) -> NormalEquations:
    """The :class:`NormalEquations` of the design ``[z, z**2 - 1]`` of the block
    rows at positions ``rows`` (three products per chunk, module docstring)."""
    n = block.n_columns
    zz, zq, qq = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    # each product's second factor is [target, 1]: the moment and the column sums
    zt, qt = np.zeros((n, 2)), np.zeros((n, 2))
    target_sum = 0.0
    for lo, hi, z, q in squared_chunks(block, rows):
        t = block.target[rows[lo:hi]]
        target_sum += float(t.sum())
        with_ones = np.ones((hi - lo, 2), dtype=z.dtype)
        with_ones[:, 0] = t
        zz += z.T @ z  # one chunk's product in its dtype, summed in float64
        zq += z.T @ q
        qq += q.T @ q
        zt += z.T @ with_ones
        qt += q.T @ with_ones
    m = int(rows.size)
    sum_z, sum_q = zt[:, 1], qt[:, 1]
    gram = np.empty((2 * n, 2 * n))
    gram[:n, :n] = zz
    gram[:n, n:] = zq - sum_z[:, None]
    gram[n:, :n] = gram[:n, n:].T
    gram[n:, n:] = qq - sum_q[:, None] - sum_q[None, :] + m
    moment = np.concatenate([zt[:, 0], qt[:, 0] - target_sum])
    return NormalEquations(gram, moment, m)


@dataclass(frozen=True)
class BlockEquations:
    """The :class:`NormalEquations` of every row of a block, kept as those of
    disjoint segments of it (each fold's test rows, then any rows in no test
    block), so a fold reads its test block's instead of multiplying them again."""

    whole: NormalEquations
    segments: tuple[tuple[IntArray, NormalEquations], ...]  # (block positions, equations)

    def left_out(self, block: RankBlock, rest: IntArray) -> NormalEquations:
        """The equations of the block rows at positions ``rest``: the sum of the
        segments inside ``rest`` and those of its other rows, multiplied here."""
        in_rest = np.zeros(block.rows.size, dtype=bool)
        in_rest[rest] = True
        found: list[NormalEquations] = []
        for positions, equations in self.segments:
            if bool(in_rest[positions].all()):
                in_rest[positions] = False
                found.append(equations)
        others = np.flatnonzero(in_rest)
        if others.size or not found:
            found.append(normal_equations(block, others))
        return _total(found)


def whole_block(block: RankBlock, segments: Sequence[IntArray] = ()) -> BlockEquations:
    """The :class:`BlockEquations` of every row of ``block`` (once per target),
    summed over ``segments`` (panel rows, e.g. each fold's test rows; a row
    already in an earlier segment counts there) and the rows in none."""
    taken = np.zeros(block.rows.size, dtype=bool)
    parts: list[tuple[IntArray, NormalEquations]] = []
    for rows in segments:
        positions = np.flatnonzero(np.isin(block.rows, rows) & ~taken)
        if positions.size:
            taken[positions] = True
            parts.append((positions, normal_equations(block, positions)))
    rest = np.flatnonzero(~taken)
    if rest.size or not parts:
        parts.append((rest, normal_equations(block, rest)))
    return BlockEquations(_total([equations for _, equations in parts]), tuple(parts))


def _total(equations: Sequence[NormalEquations]) -> NormalEquations:
    """The equations of the union of disjoint row sets (at least one)."""
    return functools.reduce(operator.add, equations)


def additive_rank_fit(
    block: RankBlock,
    rows: IntArray,
    ridge: float = 1e-3,
    whole: BlockEquations | None = None,
) -> FloatArray | None:
    """Coefficients (2 columns: z, then z**2 - 1) of the additive rank model on the
    block rows that are panel rows ``rows``; ``None`` when none is.

    With ``whole`` (:func:`whole_block` of the same block) and rows that leave
    out fewer rows than they keep, the normal equations are the whole block's
    minus those of the rows left out (:meth:`BlockEquations.left_out`); the
    same solution to rounding.
    """
    inside = np.isin(block.rows, rows, assume_unique=True)
    train = np.flatnonzero(inside)
    if train.size == 0:
        return None
    rest = np.flatnonzero(~inside)
    if whole is not None and whole.whole.n == block.rows.size and rest.size < train.size:
        fit = whole.whole - whole.left_out(block, rest)
    else:
        fit = normal_equations(block, train)
    gram = fit.gram.copy()
    gram[np.diag_indices_from(gram)] += ridge * train.size
    coef: FloatArray = np.asarray(np.linalg.solve(gram, fit.moment), dtype=np.float64)
    return coef


def fitted_values(block: RankBlock, coef: FloatArray) -> FloatArray:
    """The additive rank model's fitted values ``z @ b_z + (z**2 - 1) @ b_z2`` on
    every row of the block (products in the block's dtype, as the fit's)."""
    n = block.n_columns
    out = np.empty(block.rows.size)
    dtype = compute_dtype(block.z)
    b_z, b_q = coef[:n].astype(dtype), coef[n:].astype(dtype)
    offset = float(coef[n:].sum())
    for lo, hi, z, q in squared_chunks(block, np.arange(block.rows.size)):
        part = z @ b_z
        part += q @ b_q
        out[lo:hi] = part
    out -= offset
    return out


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

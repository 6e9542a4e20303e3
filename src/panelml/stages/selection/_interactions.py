"""Interaction-aware importance for feature selection: ``univariate``/``pairwise_rank_ic``.

Why: a pure product term ``x_i * x_j`` has no marginal rank IC and no marginal
split gain, so greedy trees split on its factors only by chance, and neither
the marginal nor the partial rank IC (ranks z and z**2 - 1, no cross terms)
can see it. Its factors then never beat their shadows, whatever the sample
size. This kind looks for that case directly.

Method (per fold, on that fold's training rows only, from the same
:class:`~panelml.stages.selection._rank_block.RankBlock` as the partial rank
IC: cross-sectional standardised ranks of the target and of every column):

1. the target's ranks are regressed on every column's z and z**2 - 1 (the
   partial rank IC's pooled ridge regression); ``r`` is the residual, i.e. what
   the additive rank model leaves unexplained;
2. for every column c (real or shadow) and every partner p (a *real* feature,
   p != c) the per-timestamp mean of ``r * z_c * z_p`` is formed, and its
   t-statistic over the fold's timestamps (timestamps grouped in blocks of the
   target's horizon, so overlapping labels do not fake precision);
3. c's best partner (largest |t|) and the sign of that t are fixed on the
   training rows; the importance of c is that pair's correlation with the
   residual on the fold's *test* rows (the additive model still fitted on the
   training rows), signed, so a reversal scores below 0.

Why held out: a column has many partners, so its in-sample best |t| is a
maximum over many pairs, and folds share most of their training rows, so the
same lucky pair wins in every fold. Measured on the hard-case panel (5
seeds): scoring in-sample let pairs of unrelated persistent features through
on 2 seeds (precision 0.78 on one), while the held-out score evaluates one
pre-chosen pair per column on rows the choice never saw, and the folds' test
blocks are disjoint, so their hits are close to independent (the binomial tail
of the solo vote, :mod:`panelml.stages.selection._consensus`, then holds).

The partner is chosen by a t-statistic rather than a raw correlation: the sampling spread of a raw
correlation differs a lot between pairs (persistent pairs against an
overlapping target are far noisier), so the best shadow's raw maximum is set by
the noisiest shadow pairs and hides a real product of less persistent factors;
standardising each pair by its own spread puts every pair on one scale.

Shadows are scored the same way against the same real partners, so a column
without information (exchangeable with its shadows) has the same null
distribution as the shadows: the Boruta comparison stays calibrated. A noise
feature correlated with one factor of a real product borrows part of its
score (about that correlation times the factor's), like the marginal rank IC.

Cost: per fold, the additive model's normal equations (mostly read from the
target's whole block, :mod:`~panelml.stages.selection._additive`), its fitted
values on every block row (two matrix-vector products per row chunk) and the
pair statistics, rows x columns x partners multiply-adds done as matrix
products: a block's (columns x partners) matrix of means is one product Z_b^T
W_b over its rows (``W`` the partner columns times the residual, scaled per
row), and blocks are stacked into batched products. The block is read in row
chunks, never copied whole, and the held-out score reads only the z half of the
test rows. At 80,000 rows x 200 columns x 64 partners (1 thread) the pair
statistics take 0.13-0.16 s instead of about 4 s for the former elementwise
(rows x columns x partners) products, and the whole fold score 0.5 s instead of
3.5 s, most of it now the normal equations.

Partners are all real features up to ``max_partners`` (default 64); on wider
panels they are the ``max_partners`` real features with the largest additive
partial rank importance ``hypot(b_z, b_z2)`` in that fold, so a product whose
*both* factors have no additive effect is only found when they are among those
(documented limit; raise ``max_partners`` to search more pairs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.stages.selection._additive import additive_rank_fit, fitted_values, row_chunks
from panelml.stages.selection._importance import compute_dtype
from panelml.stages.selection._rank_block import RankBlock

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PAIRWISE_KIND = "pairwise_rank_ic"
DEFAULT_MAX_PARTNERS = 64


def pairwise_rank_importance(
    block: RankBlock,
    rows: IntArray,
    timestamps: IntArray,
    n_real: int,
    horizon: int = 1,
    max_partners: int = DEFAULT_MAX_PARTNERS,
    ridge: float = 1e-3,
    test: IntArray | None = None,
    coef: FloatArray | None = None,
) -> FloatArray:
    """Pairwise interaction score of every column c of ``block`` (real first, then
    shadows); ``timestamps`` are the timestamp codes of ``block.rows``.

    Without ``test``: the best |t| of mean(additive rank residual * z_c * z_p)
    over real partners p != c on ``rows``. With ``test`` (the default in the
    stage): the partner and the sign are chosen on ``rows`` as above, and the
    score is that pair's correlation with the residual on the ``test`` rows (the
    additive model still fitted on ``rows``), signed so that a reversal scores
    below 0 (clipped to 0 by the consensus).

    ``coef``: the additive model's coefficients on ``rows``
    (:func:`~panelml.stages.selection._additive.additive_rank_fit`) when the
    caller already solved it (the partial rank IC uses the same fit).
    ``block.z`` may be float32 or float64 (products in its dtype, chunk sums in
    float64: :mod:`~panelml.stages.selection._additive`), and the block is read
    in row chunks (never copied whole).
    """
    n_cols = block.n_columns
    train = np.flatnonzero(np.isin(block.rows, rows, assume_unique=True))
    if train.size == 0 or n_cols == 0 or n_real < 2:
        return np.zeros(n_cols)
    if coef is None:
        coef = additive_rank_fit(block, rows, ridge)
    if coef is None:
        return np.zeros(n_cols)
    # the additive model's residual on every row of the block (train and test)
    resid = np.asarray(block.target, dtype=np.float64) - fitted_values(block, coef)
    partners = np.arange(n_real)
    if n_real > max_partners:
        additive = np.hypot(coef[:n_real], coef[n_cols : n_cols + n_real])
        partners = np.sort(np.lexsort((partners, -additive))[:max_partners])
    z = block.z  # only z is needed from here on
    t = _pair_t(z, resid[train], timestamps[train], partners, horizon, rows=train)
    if test is None:
        out: FloatArray = np.abs(t).max(axis=1)
        return out
    best = np.abs(t).argmax(axis=1)
    sign = np.sign(t[np.arange(n_cols), best])
    held = np.flatnonzero(np.isin(block.rows, test, assume_unique=True))
    if held.size == 0:
        return np.zeros(n_cols)
    scored: FloatArray = sign * _pair_corr(z, resid[held], held, partners[best])
    return scored


def _pair_corr(
    z: npt.NDArray[np.floating[Any]], resid: FloatArray, rows: IntArray, pair: IntArray
) -> FloatArray:
    """Correlation (uncentred, as for a rank IC of zero-mean ranks) of resid with
    z_c * z_pair[c] for every column c, over ``rows`` of ``z`` (``resid`` aligned
    with ``rows``)."""
    num = np.zeros(z.shape[1])
    square = np.zeros(z.shape[1])
    for lo, hi, part in row_chunks(z, rows):
        product = part * part[:, pair]
        num += resid[lo:hi].astype(part.dtype) @ product
        square += np.einsum("ij,ij->j", product, product)
    n = rows.size
    den = np.sqrt(square / n) * np.sqrt(float(resid @ resid) / n)
    corr: FloatArray = (num / n) / np.where(den > 0, den, np.inf)
    return corr


def _pair_t(
    z: npt.NDArray[np.floating[Any]],
    resid: FloatArray,
    ts: IntArray,
    partners: IntArray,
    horizon: int,
    rows: IntArray | None = None,
) -> FloatArray:
    """(columns x partners) t-statistics of the per-timestamp mean of
    resid * z_c * z_p, timestamps in blocks of ``horizon``; 0 for c == p.

    ``resid`` and ``ts`` belong to ``rows`` of ``z`` (all rows if None), so a
    caller passes the full block and the rows it wants without copying them.

    How: the mean over a timestamp t's rows is (Z_t^T W_t) / n_t with
    W = resid * z[:, partners], and a block's mean is the average of its
    timestamps' means; so each row of W is scaled by 1 / (n_t * timestamps in
    its block), and a block's whole (columns x partners) matrix of means is one
    matrix product over its rows. Blocks are batched (padded to a common row
    count with zero-weight rows) into stacked matrix products, and the mean and
    the spread over blocks are merged batch by batch with the pairwise update
    of Chan, Golub and LeVeque (numerically as sound as a two-pass variance).
    """
    n_cols = z.shape[1]
    out = np.zeros((n_cols, partners.size))
    if ts.size == 0:
        return out
    order = np.argsort(ts, kind="stable")
    take = order if rows is None else rows[order]
    ts, resid = ts[order], resid[order]
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    size = np.diff(np.r_[starts, ts.size])
    # Timestamps grouped into consecutive blocks of ``horizon`` (overlapping
    # labels make neighbouring timestamps dependent); the t-statistic uses the
    # spread of the block means.
    block_of = np.arange(starts.size) // max(1, horizon)
    n_blocks = int(block_of[-1]) + 1
    if n_blocks < 3:
        return out
    per_block = np.bincount(block_of)
    weight = resid * np.repeat(1.0 / (size * per_block[block_of]), size)
    first = starts[:: max(1, horizon)]
    bounds = np.r_[first, ts.size]
    count = 0
    mean = np.zeros_like(out)
    m2 = np.zeros_like(out)
    for lo, hi in _batches(np.diff(bounds), n_cols, partners.size):
        means = _block_means(z, take, weight, bounds[lo : hi + 1], partners)
        # merge this batch's mean and sum of squared deviations into the running ones
        n_b = hi - lo
        mean_b = means.mean(axis=0)
        # squared deviations in place: no two batch-sized temporaries
        means -= mean_b
        np.square(means, out=means)
        m2_b = means.sum(axis=0)
        delta = mean_b - mean
        total = count + n_b
        mean += delta * (n_b / total)
        m2 += m2_b + np.square(delta) * (count * n_b / total)
        count = total
    se = np.sqrt(m2 / (n_blocks - 1)) / np.sqrt(n_blocks)
    out = mean / np.where(se > 0, se, np.inf)
    out[partners, np.arange(partners.size)] = 0.0  # not its own partner
    return out


def _batches(block_rows: IntArray, n_cols: int, n_partners: int) -> Iterator[tuple[int, int]]:
    """Consecutive runs [lo, hi) of blocks whose padded (blocks x rows x columns)
    slice and (blocks x columns x partners) result stay within _CHUNK_CELLS
    (one block at least)."""
    lo, widest = 0, 0
    for b, m in enumerate(block_rows.tolist()):
        wide = max(widest, m)
        n = b - lo + 1
        if n > 1 and n * max(wide * n_cols, n_cols * n_partners) > _CHUNK_CELLS:
            yield lo, b
            lo, wide = b, m
        widest = wide
    yield lo, block_rows.size


def _block_means(
    z: npt.NDArray[np.floating[Any]],
    take: IntArray,
    weight: FloatArray,
    bounds: IntArray,
    partners: IntArray,
) -> FloatArray:
    """(blocks x columns x partners) sums of weight * z_c * z_p over each block's
    rows: block j is sorted rows bounds[j]:bounds[j + 1], i.e. rows
    take[bounds[j]:bounds[j + 1]] of ``z``."""
    lo, hi = bounds[:-1], bounds[1:]
    if lo.size == 1:  # one block, possibly too large to gather whole: row chunks
        out = np.zeros((1, z.shape[1], partners.size))
        for a, b, part in row_chunks(z, take[lo[0] : hi[0]]):
            w_part = weight[lo[0] + a : lo[0] + b, None].astype(part.dtype)
            out[0] += part.T @ (w_part * part[:, partners])
        return out
    m = hi - lo
    run = take[lo[0] : hi[-1]]
    if (m == m[0]).all() and bool(np.all(np.diff(run) == 1)):
        # equal blocks of consecutive rows (a complete panel's training run):
        # the stack is a view of z, not a gather
        w = weight[lo[0] : hi[-1]].reshape(lo.size, int(m[0]))
        part = np.asarray(z[run[0] : run[-1] + 1], dtype=compute_dtype(z))
        part = part.reshape(lo.size, int(m[0]), z.shape[1])
    else:
        pos = lo[:, None] + np.arange(m.max())
        w = weight[np.minimum(pos, weight.size - 1)]
        if (m != m[0]).any():  # ragged: pad with zero-weight copies of a block's first row
            valid = pos < hi[:, None]
            pos = np.where(valid, pos, lo[:, None])
            w = np.where(valid, w, 0.0)
        part = np.asarray(z[take[pos]], dtype=compute_dtype(z))  # (blocks, rows, columns)
    weighted = w.astype(part.dtype)[:, :, None] * part[:, :, partners]
    product = np.matmul(part.transpose(0, 2, 1), weighted)
    del part, weighted  # before the float64 copy: one batch-sized array less at once
    means: FloatArray = product.astype(np.float64)
    return means


_CHUNK_CELLS = 2_000_000
"""Cells of a row chunk or a batch of block matrices formed at once (16 MB)."""

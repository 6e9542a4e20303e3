"""Interaction-aware importance for feature selection: ``univariate``/``pairwise_rank_ic``.

Why: a pure product term ``x_i * x_j`` has no marginal rank IC and no marginal
split gain, so greedy trees split on its factors only by chance, and neither
the marginal nor the partial rank IC (ranks z and z**2 - 1, no cross terms)
can see it. Its factors then never beat their shadows, whatever the sample
size. This kind looks for that case directly.

Method (per fold, on that fold's training rows only, from the same
:class:`~panelml.stages.selection._importance.RankBlock` as the partial rank
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

Cost: rows x columns x partners multiplications per fold (in chunks). Partners are
all real features up to ``max_partners`` (default 64); on wider panels they
are the ``max_partners`` real features with the largest additive partial
rank importance ``hypot(b_z, b_z2)`` in that fold, so a product whose *both*
factors have no additive effect is only found when they are among those
(documented limit; raise ``max_partners`` to search more pairs).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from panelml.stages.selection._importance import RankBlock

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
) -> FloatArray:
    """Pairwise interaction score of every column c of ``block`` (real first, then
    shadows); ``timestamps`` are the timestamp codes of ``block.rows``.

    Without ``test``: the best |t| of mean(additive rank residual * z_c * z_p)
    over real partners p != c on ``rows``. With ``test`` (the default in the
    stage): the partner and the sign are chosen on ``rows`` as above, and the
    score is that pair's correlation with the residual on the ``test`` rows (the
    additive model still fitted on ``rows``), signed so that a reversal scores
    below 0 (clipped to 0 by the consensus).
    """
    n_cols = block.Z.shape[1] // 2
    mask = np.isin(block.rows, rows, assume_unique=True)
    if not mask.any() or n_cols == 0 or n_real < 2:
        return np.zeros(n_cols)
    Z, target = block.Z[mask], block.target[mask]
    gram = Z.T @ Z
    gram[np.diag_indices_from(gram)] += ridge * Z.shape[0]
    coef = np.linalg.solve(gram, Z.T @ target)
    partners = np.arange(n_real)
    if n_real > max_partners:
        additive = np.hypot(coef[:n_real], coef[n_cols : n_cols + n_real])
        partners = np.sort(np.lexsort((partners, -additive))[:max_partners])
    t = _pair_t(Z[:, :n_cols], target - Z @ coef, timestamps[mask], partners, horizon)
    if test is None:
        out: FloatArray = np.abs(t).max(axis=1)
        return out
    best = np.abs(t).argmax(axis=1)
    sign = np.sign(t[np.arange(n_cols), best])
    held = np.isin(block.rows, test, assume_unique=True)
    if not held.any():
        return np.zeros(n_cols)
    Zt = block.Z[held]
    resid = block.target[held] - Zt @ coef
    z = Zt[:, :n_cols]
    product = z * z[:, partners[best]]
    num = (resid[:, None] * product).mean(axis=0)
    den = np.sqrt((product * product).mean(axis=0)) * np.sqrt(np.mean(resid * resid))
    corr = num / np.where(den > 0, den, np.inf)
    scored: FloatArray = sign * corr
    return scored


def _pair_t(
    z: FloatArray, resid: FloatArray, ts: IntArray, partners: IntArray, horizon: int
) -> FloatArray:
    """(columns x partners) t-statistics of the per-timestamp mean of
    resid * z_c * z_p, timestamps in blocks of ``horizon``; 0 for c == p."""
    n_cols = z.shape[1]
    order = np.argsort(ts, kind="stable")
    ts, z, resid = ts[order], z[order], resid[order]
    weighted = resid[:, None] * z[:, partners]  # (n, k)
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    size = np.diff(np.r_[starts, ts.size]).astype(np.float64)
    # Timestamps grouped into consecutive blocks of ``horizon`` (overlapping
    # labels make neighbouring timestamps dependent); the t-statistic uses the
    # spread of the block means.
    block_of = np.arange(starts.size) // max(1, horizon)
    n_blocks = int(block_of[-1]) + 1
    out = np.zeros((n_cols, partners.size))
    if n_blocks < 3:
        return out
    chunk = max(1, _CHUNK_CELLS // max(1, ts.size * partners.size))
    for lo in range(0, n_cols, chunk):
        cols = np.arange(lo, min(n_cols, lo + chunk))
        prod = z[:, cols, None] * weighted[:, None, :]  # (n, c, k)
        per_t = np.add.reduceat(prod, starts, axis=0) / size[:, None, None]
        per_block = np.zeros((n_blocks, *per_t.shape[1:]))
        np.add.at(per_block, block_of, per_t)
        per_block /= np.bincount(block_of)[:, None, None]
        mean = per_block.mean(axis=0)
        se = per_block.std(axis=0, ddof=1) / np.sqrt(n_blocks)
        t = mean / np.where(se > 0, se, np.inf)
        own = np.isin(cols, partners)
        t[np.flatnonzero(own), np.searchsorted(partners, cols[own])] = 0.0  # not its own partner
        out[cols] = t
    return out


_CHUNK_CELLS = 8_000_000
"""Cells of the (rows x columns x partners) product formed at once (64 MB)."""

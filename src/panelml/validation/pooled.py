"""Pooled (all rows together) out-of-sample metrics, NaN-safe.

Every function drops the pairs where either side is NaN before scoring and
returns NaN when nothing (or nothing informative) is left, so a partly missing
target never raises deep inside a stage.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["accuracy", "auc", "hit_rate", "log_loss", "mse", "r2"]

FloatArray = npt.NDArray[np.float64]


def _pairs(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.size != p.size:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    keep = ~(np.isnan(t) | np.isnan(p))
    return t[keep], p[keep]


def _binary(t: FloatArray) -> None:
    if t.size and not bool(np.all((t == 0.0) | (t == 1.0))):
        raise ValueError("binary metrics need labels in {0, 1}")


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean squared error."""
    t, p = _pairs(y_true, y_pred)
    return float(np.mean((t - p) ** 2)) if t.size else math.nan


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN when the target is constant)."""
    t, p = _pairs(y_true, y_pred)
    if t.size < 2:
        return math.nan
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return math.nan
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def auc(y_true: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """ROC AUC via the Mann-Whitney U statistic with average ranks for tied scores.

    NaN when only one class is present.
    """
    t, s = _pairs(y_true, score)
    _binary(t)
    n_pos = int(np.sum(t == 1.0))
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(s)
    u = float(np.sum(ranks[t == 1.0])) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def log_loss(y_true: npt.ArrayLike, prob: npt.ArrayLike, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy with probabilities clipped to [eps, 1 - eps]."""
    t, p = _pairs(y_true, prob)
    _binary(t)
    if not t.size:
        return math.nan
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(t * np.log(p) + (1.0 - t) * np.log1p(-p)))


def accuracy(y_true: npt.ArrayLike, prob: npt.ArrayLike, threshold: float = 0.5) -> float:
    """Share of rows where (prob >= threshold) equals the 0/1 label."""
    t, p = _pairs(y_true, prob)
    _binary(t)
    return float(np.mean((p >= threshold) == (t == 1.0))) if t.size else math.nan


def hit_rate(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Share of rows where sign(pred) == sign(target), ignoring rows where either is 0.

    For a regression on returns this is the directional accuracy around zero;
    exact zeros carry no direction, so counting them would bias the rate.
    """
    t, p = _pairs(y_true, y_pred)
    st, sp = np.sign(t), np.sign(p)
    used = (st != 0.0) & (sp != 0.0)
    return float(np.mean(st[used] == sp[used])) if used.any() else math.nan

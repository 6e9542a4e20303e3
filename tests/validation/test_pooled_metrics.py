"""Pooled metrics: agree with scikit-learn on clean data, drop NaN pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from panelml.validation import accuracy, auc, hit_rate, log_loss, mse, r2


def test_regression_metrics_match_sklearn_and_drop_nan() -> None:
    rng = np.random.default_rng(0)
    y = rng.standard_normal(300)
    p = y + rng.standard_normal(300)
    assert r2(y, p) == pytest.approx(skm.r2_score(y, p))
    assert mse(y, p) == pytest.approx(skm.mean_squared_error(y, p))
    y_nan, p_nan = y.copy(), p.copy()
    y_nan[:10], p_nan[10:20] = np.nan, np.nan
    assert r2(y_nan, p_nan) == pytest.approx(skm.r2_score(y[20:], p[20:]))
    assert math.isnan(r2([1.0, 1.0], [1.0, 2.0])) and math.isnan(mse([np.nan], [1.0]))


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.4).astype(float)
    prob = np.clip(0.3 * y + rng.random(400) * 0.7, 0, 1).round(2)  # ties in scores
    assert auc(y, prob) == pytest.approx(skm.roc_auc_score(y, prob))
    assert log_loss(y, prob) == pytest.approx(skm.log_loss(y, np.clip(prob, 1e-15, 1 - 1e-15)))
    assert accuracy(y, prob) == pytest.approx(skm.accuracy_score(y, prob >= 0.5))
    y[0] = np.nan
    assert not math.isnan(auc(y, prob))
    assert math.isnan(auc([1.0, 1.0], [0.2, 0.3]))
    with pytest.raises(ValueError, match="0, 1"):
        auc([0.0, 2.0], [0.1, 0.2])


def test_hit_rate_ignores_zeros() -> None:
    y = [0.1, -0.2, 0.0, 0.3, -0.1, np.nan]
    p = [0.5, 0.1, 0.4, 0.0, -0.2, 0.3]
    assert hit_rate(y, p) == pytest.approx(2 / 3)  # rows 0, 1, 4 count
    assert math.isnan(hit_rate([0.0], [1.0]))

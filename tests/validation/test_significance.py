"""ic_significance: exact answers where one exists, unbiasedness and calibration on
simulated null IC series (white and overlapping-window MA(h - 1)), and edge cases."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from panelml.validation import ic_significance, ic_significance_many, long_run_variance
from panelml.validation.significance import (
    FOLD_VARIANCE_FACTOR,
    KFOLD_MEASURED_FACTOR,
    fold_variance_factor,
)

F64 = npt.NDArray[np.float64]


def overlapping(rng: np.random.Generator, n: int, h: int) -> F64:
    """x_t = e_{t+1} + ... + e_{t+h}: the null IC series of overlapping h-bar labels
    with persistent predictions (autocorrelation 1 - l/h)."""
    out: F64 = np.convolve(rng.standard_normal(n + h - 1), np.ones(h), mode="valid")
    return out


def test_one_bar_walk_forward_is_the_one_sample_t_test() -> None:
    x = np.random.default_rng(0).normal(0.02, 0.1, 300)
    test = ic_significance(x, 1, scheme="walk_forward")
    expected = stats.ttest_1samp(x, 0.0, alternative="greater")
    assert test.t_stat == pytest.approx(float(expected.statistic), rel=1e-12)
    assert test.p_value == pytest.approx(float(expected.pvalue), rel=1e-10)
    assert test.df == pytest.approx(299.0)
    assert test.se == pytest.approx(x.std(ddof=1) / math.sqrt(x.size))
    assert test.mean == pytest.approx(x.mean()) and test.n_periods == 300
    assert test.icir == pytest.approx(x.mean() / x.std(ddof=1))


def test_kfold_doubles_the_variance_and_single_split_does_not() -> None:
    x = np.random.default_rng(1).normal(0.01, 0.1, 250)
    base = ic_significance(x, 3, scheme="walk_forward")
    kfold = ic_significance(x, 3, scheme="purged_kfold")
    single = ic_significance(x, 3, scheme="single_split")
    assert FOLD_VARIANCE_FACTOR["purged_kfold"] == 2.0
    assert kfold.se == pytest.approx(math.sqrt(2.0) * base.se)
    assert kfold.p_value == pytest.approx(stats.t.sf(base.t_stat / math.sqrt(2.0), base.df))
    assert single.se == base.se and single.df == base.df


def test_long_run_variance_is_unbiased_for_overlapping_windows() -> None:
    """Mean of T * V over 3000 MA(h - 1) series vs the exact T * var(mean).

    Exact: var(sum) = sum_{|l|<h} (T - |l|)(h - |l|) for unit shocks. Tolerance:
    4 Monte-Carlo s.e. (about 2.6% here); without the bias correction the
    uniform kernel's expectation is 7.4% low at T = 120, h = 5 (z ~ 11) and
    Bartlett weights' 36% low, so both would fail."""
    rng = np.random.default_rng(2)
    n, h = 120, 5
    draws = np.array([long_run_variance(overlapping(rng, n, h), h) for _ in range(3000)])
    lags = np.arange(-h + 1, h)
    exact = float(np.sum((n - np.abs(lags)) * (h - np.abs(lags)))) / n
    assert abs(draws.mean() - exact) < 4 * draws.std() / math.sqrt(draws.size)


@pytest.mark.parametrize(
    ("n", "h", "kind"),
    [(200, 1, "white"), (150, 5, "overlap"), (150, 5, "white"), (240, 20, "overlap")],
)
def test_null_p_values_are_uniform(n: int, h: int, kind: str) -> None:
    """2000 null series: share of p < 0.05 within 3 binomial s.e. (0.0146) and KS p
    >= 0.001. A test with its s.e. off by 1.5x gives shares of ~0.14 (too small)
    or ~0.007 (too large) and fails the share check with probability > 0.999."""
    rng = np.random.default_rng(10 + h)
    p = np.array(
        [
            ic_significance(
                overlapping(rng, n, h) if kind == "overlap" else rng.standard_normal(n),
                h,
                scheme="walk_forward",
            ).p_value
            for _ in range(2000)
        ]
    )
    assert abs(np.mean(p < 0.05) - 0.05) < 3 * math.sqrt(0.05 * 0.95 / p.size)
    assert stats.kstest(p, "uniform").pvalue >= 0.001


def test_negative_truncated_kernel_falls_back_to_bartlett() -> None:
    x = np.tile([1.0, -1.0], 50) + np.random.default_rng(3).normal(0, 0.01, 100)
    test = ic_significance(x, 2, scheme="walk_forward")
    assert test.method.startswith("bartlett") and test.se > 0.0 and 0.0 < test.p_value < 1.0


def test_undefined_inputs_give_nan_and_bad_arguments_raise() -> None:
    for values in ([0.1], [0.2, 0.2, 0.2], [math.nan, 0.1]):
        test = ic_significance(values, 1)
        assert math.isnan(test.p_value) and math.isnan(test.t_stat) and test.method == "undefined"
    assert ic_significance([0.1, math.nan, 0.3, 0.2], 1).n_periods == 3
    with pytest.raises(ValueError, match="horizon"):
        ic_significance([0.1, 0.2], 0)
    with pytest.raises(ValueError, match="scheme"):
        ic_significance([0.1, 0.2], 1, scheme="shuffled_kfold")  # type: ignore[arg-type]


def test_horizon_longer_than_the_series_is_capped() -> None:
    test = ic_significance(np.random.default_rng(4).normal(0.0, 1.0, 6), 20)
    assert math.isfinite(test.se) and "lag 5" in test.method


def test_fold_factor_by_scheme_and_family_set() -> None:
    """Walk-forward and single splits get 1; K-fold gets the measured factor of a
    family set that has one (lightgbm alone) and the linear bound 2 otherwise."""
    assert fold_variance_factor("walk_forward", ["lightgbm"]) == 1.0
    assert fold_variance_factor("single_split", ["ridge", "lightgbm"]) == 1.0
    lgb_factor = fold_variance_factor("purged_kfold", ["lightgbm"])
    assert lgb_factor == KFOLD_MEASURED_FACTOR[frozenset({"lightgbm"})]
    assert 1.0 < lgb_factor < 2.0
    for families in ((), ["ridge"], ["xgboost"], ["lightgbm", "ridge"], ["ridge", "lightgbm"]):
        assert fold_variance_factor("purged_kfold", families) == 2.0
    x = np.random.default_rng(6).normal(0.01, 0.1, 200)
    ridge = ic_significance(x, 1, families=["ridge"])
    lgb = ic_significance(x, 1, families=["lightgbm"])
    assert lgb.se == pytest.approx(ridge.se * math.sqrt(lgb_factor / 2.0))


def _reference_many(values: F64, horizon: int, scheme: str, families: list[str]) -> F64:
    """Column by column with the single-series functions: mean, se, t, p, df, n, T * V."""
    rows = []
    for j in range(values.shape[1]):
        sig = ic_significance(values[:, j], horizon, scheme=scheme, families=families)  # type: ignore[arg-type]
        rows.append([sig.mean, sig.se, sig.t_stat, sig.p_value, sig.df, sig.n_periods,
                     long_run_variance(values[:, j], horizon)])  # fmt: skip
    return np.array(rows, dtype=np.float64).T


def test_many_series_at_once_match_one_at_a_time() -> None:
    """``ic_significance_many`` gives every column what ``ic_significance`` and
    ``long_run_variance`` give it alone (to 1e-12): series with different missing
    periods, a constant one, none, one and two values, and strongly mean-reverting
    ones (where the truncated kernel's variance turns negative and Bartlett weights
    take over), under every scheme, with and without a measured family factor."""
    rng = np.random.default_rng(3)
    T = 60
    values = rng.standard_normal((T, 14)) * 0.1 + 0.02
    values[rng.random((T, 14)) < 0.1] = np.nan
    values[:, 3] = 0.5  # constant
    values[:, 4] = np.nan
    values[7, 4] = 0.1  # one value
    values[:, 5] = np.nan
    values[[2, 9], 5] = [0.1, 0.3]  # two values
    alternating = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)
    values[:, 6] = alternating + 0.01 * rng.standard_normal(T)
    values[:, 7] = alternating * 0.2 + 0.05 + 0.001 * rng.standard_normal(T)
    values[:, 8] = np.nan  # no values
    values[:, 9] = np.where(np.isnan(values[:, 0]), np.nan, values[:, 9])  # shares 0's gaps
    values[[0, 5, 11], 10] = np.nan
    values[:, 11] = values[:, 3]
    values[[4, 30], 11] = [0.5, np.nan]  # constant with a gap
    values[:, 12] = overlapping(rng, T, 5) * 0.05
    for horizon in (1, 2, 5):
        for scheme in sorted(FOLD_VARIANCE_FACTOR):
            for families in ([], ["lightgbm"]):
                got = ic_significance_many(values, horizon, scheme=scheme, families=families)  # type: ignore[arg-type]
                found = np.array([got.mean, got.se, got.t_stat, got.p_value, got.df,
                                  got.n_periods, got.long_run_variance])  # fmt: skip
                expected = _reference_many(values, horizon, scheme, families)
                np.testing.assert_array_equal(np.isnan(found), np.isnan(expected))
                np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-300)
                for j in range(values.shape[1]):
                    method = ic_significance(values[:, j], horizon, scheme=scheme).method  # type: ignore[arg-type]
                    assert got.bartlett[j] == method.startswith("bartlett"), (j, method)
    methods = {ic_significance(values[:, j], 2).method.split()[0] for j in (6, 7)}
    assert "bartlett" in methods, methods
    assert np.isnan(ic_significance_many(values, 2).t_stat[[3, 4, 8, 11]]).all()
    empty = ic_significance_many(np.zeros((0, 3)), 2)
    assert np.isnan(empty.mean).all() and (empty.n_periods == 0).all()
    with pytest.raises(ValueError, match="2-D"):
        ic_significance_many(values[:, 0], 2)
    with pytest.raises(ValueError, match="horizon"):
        ic_significance_many(values, 0)

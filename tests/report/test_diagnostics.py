"""The report's factor diagnostics against hand computations and planted panels.

Planted panels come in two designs: a persistent signal (AR(1) predictions,
phi 0.95, Gaussian noise) and a non-persistent one (iid predictions, Student t3
noise, 10% of outcomes missing), each over several seeds.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from panelml.report import diagnostics as dg
from panelml.validation.significance import ic_significance


def _panel(
    design: str, beta: float, seed: int, n: int = 50, t: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pred, y, timestamps, symbols) rows of a panel with y = beta * pred + noise."""
    rng = np.random.default_rng(seed)
    if design == "persistent":
        x = np.empty((t, n))
        x[0] = rng.normal(size=n)
        for k in range(1, t):
            x[k] = 0.95 * x[k - 1] + math.sqrt(1 - 0.95**2) * rng.normal(size=n)
        noise = rng.normal(size=(t, n))
    else:
        x = rng.normal(size=(t, n))
        noise = rng.standard_t(3, size=(t, n)) / math.sqrt(3)
    y = beta * x + noise
    if design != "persistent":
        y[rng.random(size=y.shape) < 0.1] = np.nan
    ts = np.repeat(np.arange(t, dtype=np.int64), n)
    symbols = np.tile(np.array([f"S{i:03d}" for i in range(n)]), t)
    return x.reshape(-1), y.reshape(-1), ts, symbols


# -- quantile returns -------------------------------------------------------------
def test_quantile_means_by_hand_weight_timestamps_equally() -> None:
    # timestamp 0: 10 names, pred 0..9, y = pred; buckets of two names each
    # timestamp 1: 5 names, one per bucket, y = 100 * bucket
    pred = np.r_[np.arange(10.0), np.arange(5.0)]
    y = np.r_[np.arange(10.0), 100.0 * np.arange(5.0)]
    ts = np.r_[np.zeros(10, np.int64), np.ones(5, np.int64)]
    result = dg.quantile_returns(pred, y, ts, 5)
    per_ts0 = np.array([0.5, 2.5, 4.5, 6.5, 8.5])
    per_ts1 = 100.0 * np.arange(5.0)
    np.testing.assert_allclose(result.means, (per_ts0 + per_ts1) / 2)
    np.testing.assert_allclose(result.spread, [8.0, 400.0])
    assert result.timestamps.tolist() == [0, 1] and result.skipped == 0


def test_quantile_skips_timestamps_without_a_name_in_every_bucket() -> None:
    pred = np.r_[np.arange(10.0), np.ones(6)]  # ties put the second timestamp in one bucket
    y = np.r_[np.arange(10.0), np.arange(6.0)]
    ts = np.r_[np.zeros(10, np.int64), np.ones(6, np.int64)]
    result = dg.quantile_returns(pred, y, ts, 5)
    assert result.timestamps.tolist() == [0] and result.skipped == 1
    assert result.spread.tolist() == [8.0]


def test_quantile_drops_missing_pairs() -> None:
    pred = np.array([0.0, 1.0, 2.0, np.nan, 3.0, 4.0])
    y = np.array([1.0, 2.0, np.nan, 5.0, 4.0, 6.0])
    result = dg.quantile_returns(pred, y, np.zeros(6, np.int64), 2)
    # kept: (0,1) (1,2) (3,4) (4,6) -> buckets {1, 2} and {4, 6}
    np.testing.assert_allclose(result.means, [1.5, 5.0])


@pytest.mark.parametrize("design", ["persistent", "iid_t3_missing"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [0.1, -0.1])
def test_planted_spread_has_the_planted_sign_and_a_large_t(
    design: str, beta: float, seed: int
) -> None:
    """y = beta * pred + noise, 50 names x 200 timestamps.

    Expected spread: beta * (E[x | top fifth] - E[x | bottom fifth]) = beta * 2.8 = 0.28;
    its per-timestamp sd is about sqrt(2 / 10) = 0.45 (10 names a bucket, unit noise),
    so |t| is about 0.28 / (0.45 / sqrt(200)) = 8.8 (6.2 with the k-fold factor 2,
    less under persistence, which the long-run variance sees). The test asks for the
    planted sign and |t| > 3: buckets built from descending ranks, or a spread taken
    bottom minus top, fail every case; a spread averaged over rows of unequal
    timestamps would still pass, which the hand test above catches.
    """
    pred, y, ts, _ = _panel(design, beta, seed)
    result = dg.quantile_returns(pred, y, ts, 5)
    test = dg.spread_significance(result.spread, 1, "purged_kfold", ["ridge"])
    assert test is not None
    assert np.sign(test.mean) == np.sign(beta)
    assert abs(test.t_stat) > 3
    means = result.means if beta > 0 else -result.means
    assert np.all(np.diff(means) > -0.05)  # monotone up to noise (bucket sd ~0.03)


def test_spread_t_is_the_ic_test_and_unknown_schemes_get_none() -> None:
    rng = np.random.default_rng(5)
    spread = rng.normal(0.01, 0.1, size=300)
    ours = dg.spread_significance(spread, 5, "walk_forward", ["lightgbm"])
    theirs = ic_significance(spread, 5, scheme="walk_forward", families=["lightgbm"])
    assert ours == theirs
    assert dg.spread_significance(spread, 5, "bootstrap", ["lightgbm"]) is None


def test_bucket_count_needs_ten_names_a_bucket_for_deciles() -> None:
    assert dg.bucket_count([60] * 10) == 5
    assert dg.bucket_count([99, 100, 101]) == 10
    assert dg.bucket_count([]) == 5


# -- turnover ---------------------------------------------------------------------
def test_constant_ranking_has_rank_autocorrelation_one() -> None:
    _, _, ts, symbols = _panel("iid", 0.0, 0, n=20, t=30)
    constant = np.tile(np.arange(20.0), 30)
    result = dg.rank_autocorrelation(constant, symbols, ts)
    assert result.values.size == 29
    np.testing.assert_allclose(result.values, 1.0)
    assert result.timestamps.tolist() == list(range(1, 30))


@pytest.mark.parametrize("design", ["persistent", "iid_t3_missing"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turnover_of_independent_predictions_is_near_zero(design: str, seed: int) -> None:
    """iid predictions (the panel's pred shuffled within each timestamp would do the same):
    each pair's Spearman has sd 1 / sqrt(49) over 50 names, the mean of 99 pairs
    sd 0.0144; the tolerance 0.06 is 4 sd. Predictions that persist even weakly
    (AR(1) with phi 0.2: expected 0.19) fail it."""
    rng = np.random.default_rng(100 + seed)
    _, _, ts, symbols = _panel(design, 0.0, seed, t=100)
    pred = rng.normal(size=ts.size) if design == "persistent" else rng.standard_t(3, ts.size)
    if design != "persistent":
        pred[rng.random(ts.size) < 0.1] = np.nan
    assert abs(dg.rank_autocorrelation(pred, symbols, ts).mean) < 0.06


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turnover_of_gaussian_ar1_matches_the_spearman_formula(seed: int) -> None:
    """Latent Gaussian AR(1) with phi 0.8: Spearman of consecutive values is
    (6 / pi) asin(phi / 2) = 0.786 (Pearson 1907). 50 names x 100 timestamps: the
    mean's sd is below 0.01, the tolerance 0.03; pairing t with t - 2 (0.628) or
    reading Pearson of ranks as phi itself off by a lag fails."""
    rng = np.random.default_rng(seed)
    n, t, phi = 50, 100, 0.8
    x = np.empty((t, n))
    x[0] = rng.normal(size=n)
    for k in range(1, t):
        x[k] = phi * x[k - 1] + math.sqrt(1 - phi**2) * rng.normal(size=n)
    ts = np.repeat(np.arange(t, dtype=np.int64), n)
    symbols = np.tile(np.arange(n), t)
    expected = 6 / math.pi * math.asin(phi / 2)
    assert abs(dg.rank_autocorrelation(x.reshape(-1), symbols, ts).mean - expected) < 0.03


def test_turnover_pairs_only_consecutive_timestamps_of_the_same_symbol() -> None:
    # symbol b is missing at t=1, so its t=0 and t=2 values are never paired
    frame = pl.DataFrame(
        {
            "symbol": ["a", "b", "c", "a", "c", "a", "b", "c"],
            "ts": [0, 0, 0, 1, 1, 2, 2, 2],
            "pred": [1.0, 2.0, 3.0, 1.0, 3.0, 3.0, 1.0, 2.0],
        }
    )
    result = dg.rank_autocorrelation(
        frame["pred"].to_numpy(), frame["symbol"].to_numpy(), frame["ts"].to_numpy(), min_names=2
    )
    # t=1: pairs a (1 -> 1), c (3 -> 3): corr 1; t=2: a (1 -> 3), c (3 -> 2): corr -1
    assert result.timestamps.tolist() == [1, 2]
    np.testing.assert_allclose(result.values, [1.0, -1.0])


# -- histogram, periods, calibration ---------------------------------------------------
def test_histogram_is_symmetric_around_zero_and_counts_every_value() -> None:
    values = np.array([-0.31, -0.02, 0.0, 0.01, 0.12, 0.12, np.nan])
    hist = dg.histogram(values, n_bins=8)
    assert hist.edges[0] == -hist.edges[-1] == pytest.approx(-0.35)
    assert 0.0 in hist.edges.round(12).tolist()
    assert hist.counts.sum() == 6


def test_month_grid_by_hand() -> None:
    days = pl.date_range(pl.date(2020, 1, 30), pl.date(2020, 2, 2), eager=True)
    physical = days.to_physical().cast(pl.Int64).to_numpy()
    grid = dg.period_grid(physical, np.array([1.0, 3.0, 10.0, np.nan]), pl.Date)
    assert grid.rows == ["2020"] and grid.columns[0] == "Jan"
    assert grid.values[0, 0] == 2.0 and grid.values[0, 1] == 10.0
    assert grid.counts[0, 0] == 2 and grid.counts[0, 1] == 1
    assert np.isnan(grid.values[0, 2])


def test_integer_timestamps_are_grouped_in_blocks() -> None:
    ts = np.arange(144, dtype=np.int64) * 7
    grid = dg.period_grid(ts, np.arange(144.0), pl.Int64, columns=12)
    # 144 periods, at most 72 cells: blocks of 2 periods, 6 rows of 12
    assert grid.values.shape == (6, 12)
    assert grid.values[0, 0] == 0.5 and grid.values[5, 11] == 142.5
    assert grid.rows[0] == "periods 1-24" and grid.title == "block of 2 periods"


@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_of_true_probabilities_lies_on_the_diagonal(seed: int) -> None:
    """20,000 rows, 10 bins of 2,000: the observed share's sd is at most 0.011, the
    tolerance 0.05. Probabilities that are off (truth p^2: 0.25 below at p = 0.5)
    fail."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    cal = dg.calibration(p, y)
    assert cal.counts.tolist() == [2000] * 10
    assert np.max(np.abs(cal.observed - cal.predicted)) < 0.05
    wrong = dg.calibration(p, (rng.uniform(size=p.size) < p**2).astype(float))
    assert np.max(np.abs(wrong.observed - wrong.predicted)) > 0.15
    assert cal.base_rate == pytest.approx(y.mean())

"""Per-timestamp IC (Qlib convention), ICIR and the Newey-West t."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from panelml.validation import ICSeries, ic_series, ic_summary, per_symbol_ic, positive_share

PRED = [0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1, 0.1, 0.2, 0.3, 0.4]
TARGET = [0.01, 0.03, 0.02, 0.04, 0.01, 0.02, 0.03, 0.04, 0.01, 0.02, 0.03, 0.04]
TS = np.repeat([0, 1, 2], 4)


def loop_ic(pred: np.ndarray, target: np.ndarray, ts: np.ndarray, method: str, min_names: int):
    """Obvious per-timestamp loop, the oracle for the vectorised version."""
    out = {}
    for t in np.unique(ts):
        m = (ts == t) & ~np.isnan(pred) & ~np.isnan(target)
        a, b = pred[m], target[m]
        if a.size < min_names or np.ptp(a) == 0 or np.ptp(b) == 0:
            continue
        out[t] = stats.spearmanr(a, b)[0] if method == "rank" else np.corrcoef(a, b)[0, 1]
    return out


def test_reference_rank_ic() -> None:
    s = ic_series(PRED, TARGET, TS, method="rank", min_names=4)
    np.testing.assert_allclose(s.values, [0.8, -1.0, 1.0], atol=1e-12)
    assert list(s.timestamps) == [0, 1, 2] and list(s.n_names) == [4, 4, 4]
    summary = ic_summary(s)
    assert summary.mean == pytest.approx(0.26667, abs=5e-6)
    assert summary.icir == pytest.approx(0.24209, abs=5e-6)
    assert summary.t_stat == pytest.approx(0.24209 * math.sqrt(3), abs=1e-4)
    assert summary.n_periods == 3 and summary.n_skipped == 0


def test_min_names_skips_and_counts() -> None:
    s = ic_series(PRED, TARGET, TS)  # default min_names=5 > 4 names
    assert len(s) == 0 and s.n_skipped == 3
    summary = ic_summary(s)
    assert math.isnan(summary.mean) and summary.n_skipped == 3


def test_zero_variance_and_nan_pairs_are_excluded_not_poisoning() -> None:
    pred = np.array([1, 2, 3, 4, 5, 1, 1, 1, 1, 1, 1, 2, 3, 4, np.nan, 5, 4, 3, 2, 1], float)
    target = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, np.nan, 5, 2, 2, 2, 2, 2], float)
    ts = np.repeat([10, 20, 30, 40], 5)
    s = ic_series(pred, target, ts, min_names=3)
    assert list(s.timestamps) == [10, 30]  # 20: constant pred, 40: constant target
    assert list(s.n_names) == [5, 3]  # NaN pairs dropped before counting
    np.testing.assert_allclose(s.values, [1.0, 1.0])
    assert s.n_skipped == 2
    assert not np.isnan(ic_summary(s).mean)


@st.composite
def ragged_panels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_ts = draw(st.integers(1, 12))
    sizes = draw(st.lists(st.integers(1, 30), min_size=n_ts, max_size=n_ts))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    ts = np.repeat(rng.choice(1000, n_ts, replace=False), sizes)
    n = ts.size
    pred = rng.integers(0, draw(st.integers(1, 6)), n).astype(float)  # many ties
    target = rng.standard_normal(n).round(draw(st.integers(0, 2)))
    pred[rng.random(n) < 0.1] = np.nan
    target[rng.random(n) < 0.1] = np.nan
    order = rng.permutation(n)
    return pred[order], target[order], ts[order]


@settings(max_examples=60, deadline=None)
@given(ragged_panels(), st.sampled_from(["rank", "pearson"]), st.integers(2, 6))
def test_vectorised_matches_loop(panel, method, min_names) -> None:
    pred, target, ts = panel
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = ic_series(pred, target, ts, method=method, min_names=min_names)
    ref = loop_ic(pred, target, ts, method, min_names)
    assert list(s.timestamps) == sorted(ref)
    np.testing.assert_allclose(s.values, [ref[t] for t in s.timestamps], atol=1e-10)
    assert s.n_skipped == np.unique(ts).size - len(ref)


def test_very_ragged_panel_uses_sparse_path_with_same_result() -> None:
    rng = np.random.default_rng(3)
    ts = np.concatenate([np.zeros(500, int), np.repeat(np.arange(1, 400), 6)])
    pred = rng.integers(0, 5, ts.size).astype(float)
    target = rng.standard_normal(ts.size)
    s = ic_series(pred, target, ts)
    ref = loop_ic(pred, target, ts, "rank", 5)
    np.testing.assert_allclose(s.values, [ref[t] for t in s.timestamps], atol=1e-10)


def test_newey_west_matches_formula() -> None:
    x = np.array([0.05, 0.02, -0.01, 0.04, 0.03, 0.00, 0.06, 0.01])
    summary = ic_summary(x, horizon=3)
    n, lag, d = x.size, 2, x - x.mean()
    g = [float(d[k:] @ d[: n - k]) / n for k in range(lag + 1)]
    var = (g[0] + 2 * sum((1 - k / (lag + 1)) * g[k] for k in range(1, lag + 1))) / n
    assert summary.nw_lag == 2
    assert summary.t_stat_nw == pytest.approx(x.mean() / math.sqrt(var))
    assert summary.p_value == pytest.approx(stats.t.sf(summary.t_stat_nw, n - 1))
    # with lag 0 the HAC variance is the (ddof=0) variance of the mean
    assert ic_summary(x).t_stat_nw == pytest.approx(x.mean() / (x.std() / math.sqrt(n)))


def test_positive_autocorrelation_shrinks_hac_t() -> None:
    rng = np.random.default_rng(0)
    x = 0.02 + np.convolve(rng.standard_normal(400), np.ones(5), "same") * 0.05
    s = ic_summary(x, horizon=5)
    assert s.t_stat_nw < s.t_stat
    assert 0.0 < s.p_value < 1.0


def test_degenerate_summaries_are_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = ic_summary([0.1])
        flat = ic_summary([0.1, 0.1, 0.1], horizon=2)
        empty = ic_summary(np.array([]))
        with_nan = ic_summary([0.1, np.nan, 0.3])
    assert one.mean == 0.1 and math.isnan(one.std) and math.isnan(one.t_stat_nw)
    assert flat.std == 0.0 and math.isnan(flat.icir) and math.isnan(flat.p_value)
    assert math.isnan(empty.mean) and empty.n_periods == 0
    assert with_nan.n_periods == 2 and with_nan.n_skipped == 1


def test_ic_series_on_planted_signal() -> None:
    rng = np.random.default_rng(1)
    ts = np.repeat(np.arange(200), 50)
    signal = rng.standard_normal(ts.size)
    target = 0.2 * signal + rng.standard_normal(ts.size)
    s = ic_series(signal, target, ts)
    assert isinstance(s, ICSeries) and len(s) == 200
    summary = ic_summary(s)
    assert 0.12 < summary.mean < 0.28 and summary.p_value < 1e-6


def test_per_symbol_ic() -> None:
    rng = np.random.default_rng(2)
    sym = np.tile(np.arange(4), 60)
    pred = rng.standard_normal(sym.size)
    sign = np.array([1.0, 1.0, 1.0, -1.0])[sym]
    target = sign * pred + 0.1 * rng.standard_normal(sym.size)
    target[sym == 2] = np.nan  # no data: left out
    codes, values = per_symbol_ic(pred, target, sym, min_obs=20)
    assert list(codes) == [0, 1, 3]
    assert values[0] > 0.9 and values[2] < -0.9
    assert positive_share(values) == pytest.approx(2 / 3)
    assert math.isnan(positive_share([]))


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="length"):
        ic_series([1.0, 2.0], [1.0], [0, 0])
    with pytest.raises(ValueError, match="method"):
        ic_series([1.0], [1.0], [0], method="kendall")  # type: ignore[arg-type]

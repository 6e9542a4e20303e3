"""Synthetic panels: the design, determinism, and the planted truth, verified statistically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy.stats import rankdata

from panelml.data import (
    DataConfig,
    GroundTruth,
    SyntheticPanel,
    TargetSpec,
    load_panel,
    make_panel,
    write_demo_data,
)

T_BIG, N_BIG = 1000, 300


def _grid(frame: pl.DataFrame, column: str, n: int) -> npt.NDArray[np.float64]:
    """A (timestamps, symbols) array; synthetic frames are balanced and sorted."""
    return frame[column].cast(pl.Float64).to_numpy().reshape(-1, n)


def _centred_ranks(grid: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    ranks = rankdata(grid, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    return ranks / np.sqrt((ranks**2).sum(axis=1, keepdims=True))


def mean_rank_ic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    """Mean over timestamps of the cross-sectional Spearman correlation (complete rows)."""
    ok = ~(np.isnan(x).any(axis=1) | np.isnan(y).any(axis=1))
    return float(np.mean((_centred_ranks(x[ok]) * _centred_ranks(y[ok])).sum(axis=1)))


@pytest.fixture(scope="module")
def default() -> SyntheticPanel:
    return make_panel()


@pytest.fixture(scope="module")
def big() -> SyntheticPanel:
    return make_panel(n_symbols=N_BIG, n_timestamps=T_BIG, seed=1)


def test_default_design(default: SyntheticPanel) -> None:
    truth, frame = default.truth, default.frame
    assert frame.shape == (60 * 400, 2 + 23 + 7)
    assert frame.schema["timestamp"] == pl.Datetime("us")
    assert frame["symbol"].n_unique() == 60 and frame["timestamp"].n_unique() == 400
    features = [c for c in frame.columns if c.startswith("feat_")]
    assert len(features) == 23
    legit = set(truth.signal_features) | set(truth.noise_features)
    assert legit.isdisjoint(truth.leak_features())
    assert legit | set(truth.leak_features()) == set(features)
    assert list(truth.targets) == [
        "fwd_ret_1", "fwd_ret_5", "fwd_ret_10", "fwd_vol_5", "fwd_ret_20", "fwd_noise_3", "y_up_5",
    ]  # fmt: skip
    assert truth.predictable_targets() == (
        "fwd_vol_5",
        "fwd_ret_5",
        "fwd_ret_10",
        "y_up_5",
        "fwd_ret_1",
    )
    assert truth.noise_targets() == ("fwd_ret_20", "fwd_noise_3")
    assert len({t.strength for t in truth.targets.values()}) >= 5
    for target in truth.targets.values():
        if target.predictable:
            assert 2 <= len(target.signal_features) <= 4
            assert set(target.signal_features) <= set(truth.signal_features)
        else:
            assert target.strength == 0 and target.signal_features == () and target.form == "none"
    assert {(leak.kind, leak.target) for leak in truth.leaks} == {
        ("noisy_copy", "fwd_ret_20"),
        ("partial_window", "fwd_ret_5"),
        ("short_shift", "fwd_ret_10"),
    }
    assert {t.form for t in truth.targets.values()} == {
        "linear",
        "nonlinear",
        "interaction",
        "none",
    }
    assert truth.targets["y_up_5"].kind == "binary"
    assert truth.targets["y_up_5"].expected_auc == pytest.approx(0.5677, abs=1e-3)


def test_panel_reads_the_design(default: SyntheticPanel) -> None:
    panel = default.to_panel()
    assert panel.horizons == {n: t.horizon for n, t in default.truth.targets.items()}
    assert panel.target_kinds == {n: t.kind for n, t in default.truth.targets.items()}
    assert panel.n_features == 23 and panel.report.warnings == []
    for name, target in default.truth.targets.items():
        values = _grid(default.frame, name, 60)
        assert np.isnan(values[-target.horizon :]).all()
        assert not np.isnan(values[: -target.horizon]).any()


def test_deterministic_for_a_seed() -> None:
    first = make_panel(n_symbols=8, n_timestamps=60, seed=5)
    second = make_panel(n_symbols=8, n_timestamps=60, seed=5)
    assert first.frame.equals(second.frame)
    assert first.truth == second.truth
    assert first.to_panel().fingerprint == second.to_panel().fingerprint
    other = make_panel(n_symbols=8, n_timestamps=60, seed=6)
    assert not other.frame.equals(first.frame)
    assert other.truth.signal_features == first.truth.signal_features  # names do not depend on seed


def test_no_leaks_means_no_leaky_feature_and_the_same_rest() -> None:
    with_leaks = make_panel(n_symbols=8, n_timestamps=60, seed=2)
    clean = make_panel(n_symbols=8, n_timestamps=60, seed=2, leaks=False)
    assert clean.truth.leaks == ()
    assert set(clean.frame.columns) == set(with_leaks.frame.columns) - set(
        with_leaks.truth.leak_features()
    )
    assert clean.frame.equals(with_leaks.frame.select(clean.frame.columns))


def test_planted_rank_ic_is_recovered(big: SyntheticPanel) -> None:
    for name in big.truth.predictable_targets():
        target = big.truth.targets[name]
        forecast = big.truth.optimal_forecast(big.frame, name).reshape(-1, N_BIG)
        empirical = mean_rank_ic(forecast, _grid(big.frame, name, N_BIG))
        assert empirical == pytest.approx(target.expected_rank_ic, abs=0.03), name


def test_linear_rank_ic_matches_the_gaussian_formula(default: SyntheticPanel) -> None:
    for name in ("fwd_ret_1", "fwd_ret_5"):
        strength = default.truth.targets[name].strength
        assert default.truth.targets[name].expected_rank_ic == pytest.approx(
            6 / np.pi * np.arcsin(strength / 2), abs=1e-6
        )


def test_signal_is_in_the_signal_features_and_not_in_noise(big: SyntheticPanel) -> None:
    truth, frame = big.truth, big.frame
    ranked = {f: _grid(frame, f, N_BIG) for f in truth.legitimate_features()}
    grouped = {f for group in truth.groups for f in group}
    for name in ("fwd_ret_1", "fwd_ret_5", "y_up_5"):
        y = _grid(frame, name, N_BIG)
        for feature in truth.targets[name].signal_features:
            assert mean_rank_ic(ranked[feature], y) > 0.05, (name, feature)
        for feature in set(truth.noise_features) - grouped:
            assert abs(mean_rank_ic(ranked[feature], y)) < 0.02, (name, feature)
    for name in truth.noise_targets():
        y = _grid(frame, name, N_BIG)
        for feature in truth.legitimate_features():
            assert abs(mean_rank_ic(ranked[feature], y)) < 0.03, (name, feature)


def test_leaks_behave_as_designed(big: SyntheticPanel) -> None:
    truth, frame = big.truth, big.frame
    for leak in truth.leaks:
        x, y = _grid(frame, leak.feature, N_BIG), _grid(frame, leak.target, N_BIG)
        h = truth.targets[leak.target].horizon
        past = np.full_like(y, np.nan)
        past[h:] = y[:-h]  # the window that is legitimately known at t
        if leak.kind == "noisy_copy":
            assert mean_rank_ic(x, y) > 0.95
        elif leak.kind == "partial_window":
            # the first 2 bars of the window: strong, unrelated to the closed
            # window, and persistent only through the bar it shares with x[t+1]
            now, before = mean_rank_ic(x, y), mean_rank_ic(x, past)
            assert leak.bars == 2
            assert now > 0.4 and abs(before) < 0.05
            assert 0.3 < mean_rank_ic(x[1:], x[:-1]) < 0.7
            best_legit = max(
                abs(mean_rank_ic(_grid(frame, f, N_BIG), y)) for f in truth.signal_features
            )
            assert now > 2 * best_legit
        else:
            expected = np.full_like(y, np.nan)
            expected[:-1] = y[1:]
            np.testing.assert_array_equal(x, expected.astype(np.float32))


def test_noise_target_forecast_is_zero(default: SyntheticPanel) -> None:
    assert not default.truth.optimal_forecast(default.frame, "fwd_ret_20").any()


def test_truth_round_trips_through_json_and_demo_files(tmp_path: Path) -> None:
    path = write_demo_data(tmp_path / "demo", n_symbols=10, n_timestamps=50, seed=4)
    assert path == tmp_path / "demo" / "panel.parquet"
    data = json.loads((tmp_path / "demo" / "truth.json").read_text())
    truth = GroundTruth.from_dict(data)
    assert truth == make_panel(n_symbols=10, n_timestamps=50, seed=4).truth
    panel = load_panel(DataConfig(path=str(path), bar_interval="1d"))
    assert panel.horizons == {n: t.horizon for n, t in truth.targets.items()}
    assert set(panel.feature_names) == {*truth.legitimate_features(), *truth.leak_features()}


def test_missing_rate_and_custom_targets() -> None:
    spec = TargetSpec("fwd_alpha_3", 3, 0.3, "linear", (0, 1))
    synthetic = make_panel(n_symbols=20, n_timestamps=100, targets=[spec], missing_rate=0.1)
    assert list(synthetic.truth.targets) == ["fwd_alpha_3"]
    assert [leak.kind for leak in synthetic.truth.leaks] == [
        "noisy_copy",
        "partial_window",
        "short_shift",
    ]
    share = synthetic.frame.select(
        pl.col(list(synthetic.truth.legitimate_features())).is_nan().mean()
    ).to_numpy()
    assert np.all((share > 0.07) & (share < 0.13))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # the default design holds at most one signal feature per group, so a repeated
        # position is the way to put two features of one target in one group
        (TargetSpec("t", 2, 0.2, "linear", (0, 0)), "different groups"),
        (TargetSpec("t", 2, 0.2, "none"), "strength must be 0"),
        (TargetSpec("t", 2, 0.0, "linear", (1,)), "strength must be 0"),
        (TargetSpec("t", 2, 0.2, "interaction", (1,)), "needs 2"),
        (TargetSpec("t", 2, 0.2, "linear", (99,)), "feature positions"),
    ],
)
def test_invalid_specs(spec: TargetSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_panel(n_symbols=5, n_timestamps=30, targets=[spec])


def test_default_size_is_learnable_by_a_purged_linear_model(default: SyntheticPanel) -> None:
    """A ridge fit on the first 60% of timestamps (purged by the horizon) recovers the
    linear target out of sample and weights its signal features most."""
    from sklearn.linear_model import Ridge

    panel = default.to_panel()
    name = "fwd_ret_5"
    y, h = panel.target(name), panel.horizons[name]
    cut = int(panel.n_timestamps * 0.6)
    train = (panel.timestamp_index < cut - h) & ~np.isnan(y)
    test = (panel.timestamp_index >= cut) & ~np.isnan(y)
    names = default.truth.legitimate_features()  # leaks hold NaN at the end
    X = panel.feature_matrix(names)
    model = Ridge(alpha=1.0).fit(X[train], y[train])
    predicted = model.predict(X[test]).reshape(-1, 60)
    assert mean_rank_ic(predicted, y[test].reshape(-1, 60)) > 0.1
    top = {names[i] for i in np.argsort(-np.abs(model.coef_))[:3]}
    assert top == set(default.truth.targets[name].signal_features)

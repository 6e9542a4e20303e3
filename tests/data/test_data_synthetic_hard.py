"""The hard-case synthetic panel: determinism, the truth helpers, and the planted
relations (genuine strength, persistence, leak kinds, ragged lives, point-in-time
features) verified on the data over several seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from panelml.data import DataConfig, SyntheticPanel, load_panel, make_panel, write_demo_data
from panelml.data.synthetic import GroundTruth
from panelml.data.synthetic.hard_design import cross_sectional_rank_ic

F64 = npt.NDArray[np.float64]
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def panels() -> dict[int, SyntheticPanel]:
    return {seed: make_panel(hard_cases=True, seed=seed) for seed in SEEDS}


def grid(frame: pl.DataFrame, column: str) -> F64:
    """(timestamp, symbol) array of a column; NaN where a row is absent or null."""
    wide = (
        frame.select("timestamp", "symbol", pl.col(column).cast(pl.Float64).fill_nan(None))
        .pivot(on="symbol", index="timestamp", values=column)
        .sort("timestamp")
    )
    values = wide.drop("timestamp").select(sorted(wide.columns[1:])).to_numpy()
    return np.asarray(values, dtype=np.float64)


def lag1_persistence(values: F64) -> float:
    """Mean lag-1 cross-sectional rank autocorrelation over symbols seen at both bars."""
    out = []
    for t in range(1, values.shape[0]):
        ok = ~(np.isnan(values[t]) | np.isnan(values[t - 1]))
        if ok.sum() >= 5:
            out.append(cross_sectional_rank_ic(values[t][ok][None], values[t - 1][ok][None]))
    return float(np.mean(out))


def test_same_arguments_give_the_same_bytes_and_seeds_differ() -> None:
    a = make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=3)
    b = make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=3)
    c = make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=4)
    assert a.frame.equals(b.frame) and a.truth == b.truth
    assert not a.frame.equals(c.frame)


def test_default_panel_is_unchanged_by_the_option() -> None:
    """hard_cases defaults off: the default design still has its shape and truth."""
    default = make_panel()
    assert default.truth.design == "default" and default.frame.shape == (60 * 400, 32)
    assert not default.truth.entry_exit


def test_design_and_truth_helpers(panels: dict[int, SyntheticPanel]) -> None:
    panel = panels[0]
    truth, frame = panel.truth, panel.frame
    features = [c for c in frame.columns if c.startswith("feat_")]
    assert len(features) == 35 and len(truth.targets) == 10
    assert set(truth.legitimate_features()) | set(truth.leak_features()) == set(features)
    assert set(truth.persistence) == set(features)
    assert truth.design == "hard"
    assert truth.noise_targets() == ("fwd_noise_5", "fwd_noise_20")
    kinds = {leak.kind for leak in truth.leaks}
    assert kinds == {"noisy_copy", "lagged_label", "partial_window", "full_window", "mixed"}
    assert {leak.kind for leak in truth.proof_leaks()} == {"noisy_copy", "lagged_label"}
    genuine = truth.genuine_pairs()
    assert len(genuine) == 8 + 1 + 2 + 3 + 1 + 2 + 3  # vol 2x4, then ret_1 .. int_10
    for feature, target in genuine:
        assert truth.pair_role(feature, target) == "genuine"
    for feature, target, _ in truth.leak_pairs():
        assert truth.pair_role(feature, target) == "leak"
        assert truth.pair_role(feature, "fwd_vol_5") == "unrelated"
    noise = truth.noise_features[0]
    assert all(truth.pair_role(noise, t) == "unrelated" for t in truth.targets)
    strength = truth.planted_strength()
    assert strength["fwd_vol_20"] > strength["fwd_vol_5"] > 0.6 > strength["fwd_ret_10"] > 0
    assert strength["fwd_noise_5"] == 0.0
    # the stored leak ICs are what the frame shows
    for feature, ic in truth.leak_rank_ics(frame).items():
        stored = next(leak.rank_ic for leak in truth.leaks if leak.feature == feature)
        assert stored == pytest.approx(ic, abs=1e-3)
    with pytest.raises(ValueError, match="volatility target"):
        truth.optimal_forecast(frame, "fwd_vol_5")


def test_truth_round_trips_through_json(panels: dict[int, SyntheticPanel]) -> None:
    truth = panels[1].truth
    again = GroundTruth.from_dict(json.loads(json.dumps(truth.to_dict())))
    assert again == truth
    assert again.genuine_pairs() == truth.genuine_pairs()


def test_the_panel_loads_and_writes_as_demo_files(tmp_path: Path) -> None:
    """Through the same loader as user data: ragged rows, horizons read from names."""
    path = write_demo_data(
        tmp_path / "hard", hard_cases=True, n_symbols=20, n_timestamps=150, seed=6
    )
    truth = GroundTruth.from_dict(json.loads((tmp_path / "hard" / "truth.json").read_text()))
    assert truth == make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=6).truth
    panel = load_panel(DataConfig(path=str(path), bar_interval="1d"))
    assert panel.horizons == {n: t.horizon for n, t in truth.targets.items()}
    assert set(panel.feature_names) == {*truth.legitimate_features(), *truth.leak_features()}


def test_vol_features_are_strong_persistent_genuine_predictors(
    panels: dict[int, SyntheticPanel],
) -> None:
    """Per seed, the 20- and 60-bar trailing vols have rank IC 0.5-0.9 with both
    volatility targets and persistence >= 0.95, and every vol feature's IC is
    within 0.1 of its recorded expectation (seed sd about 0.03 on 60 symbols x
    400 bars; a feature built from the wrong stream would have IC ~0)."""
    for panel in panels.values():
        truth, frame = panel.truth, panel.frame
        for name in ("fwd_vol_5", "fwd_vol_20"):
            target = truth.targets[name]
            strong = [f for f in target.feature_rank_ic if truth.persistence[f] >= 0.95]
            assert len(strong) == 2
            for feature, expected in target.feature_rank_ic.items():
                measured = truth.measured_rank_ic(frame, feature, name)
                assert measured == pytest.approx(expected, abs=0.1)
                if feature in strong:
                    assert 0.5 <= measured <= 0.9


def test_return_features_have_their_planted_ic_and_persistence(
    panels: dict[int, SyntheticPanel],
) -> None:
    """Each genuine return-block feature's measured rank IC is within 0.07 of its
    Monte-Carlo expectation (sd of a 400-bar mean of 60-symbol Spearman ~0.008
    for a persistent feature, up to ~0.03 for phi 0.97), and the strong
    non-persistent ones (phi <= 0.3, expected IC >= 0.2) measure 0.15-0.3;
    measured persistence matches the planted phi (rank version
    6/pi*asin(phi/2)) within 0.05."""
    for panel in panels.values():
        truth, frame = panel.truth, panel.frame
        for name, target in truth.targets.items():
            if target.form == "volatility":
                continue
            for feature, expected in target.feature_rank_ic.items():
                measured = truth.measured_rank_ic(frame, feature, name)
                assert measured == pytest.approx(expected, abs=0.07), (name, feature)
                if truth.persistence[feature] <= 0.3 and expected >= 0.2:
                    assert 0.15 <= measured <= 0.3
        for feature in truth.signal_features:
            phi = truth.persistence[feature]
            if truth.targets["fwd_vol_5"].feature_rank_ic.get(feature) is not None:
                expected = phi  # volatility features: already the rank version
            else:
                expected = 6 / np.pi * np.arcsin(phi / 2)
            assert lag1_persistence(grid(frame, feature)) == pytest.approx(expected, abs=0.05)


def test_leaks_have_their_planted_relation_to_the_target(
    panels: dict[int, SyntheticPanel],
) -> None:
    """Per seed: the noisy copy is a near-copy (rank IC >= 0.95; measured 0.98),
    the lagged label equals the target ``lag`` bars earlier exactly, the partial
    window (2 of 5 bars) has IC in 0.4-0.75 (measured 0.56-0.57), the full window
    0.7-0.9 (measured 0.80), and the mixed leak is about 1/sqrt(2) its genuine
    feature and beats that feature's IC by > 0.1 (measured +0.22). The seed sd of
    each IC is below 0.01, so the bands only fail a leak of another kind or of
    another target (IC ~0)."""
    for panel in panels.values():
        truth, frame = panel.truth, panel.frame
        for leak in truth.leaks:
            leak_grid, target_grid = grid(frame, leak.feature), grid(frame, leak.target)
            ic = truth.measured_rank_ic(frame, leak.feature, leak.target)
            assert leak.rank_ic is not None and abs(ic) >= 0.1
            if leak.kind == "noisy_copy":
                assert ic >= 0.95
            elif leak.kind == "lagged_label":
                shifted = target_grid[: -leak.lag]
                ok = ~np.isnan(leak_grid[leak.lag :]) & ~np.isnan(shifted)
                assert ok.sum() > 1000
                np.testing.assert_allclose(leak_grid[leak.lag :][ok], shifted[ok], rtol=1e-5)
                assert 0 < leak.lag < truth.targets[leak.target].horizon
            elif leak.kind == "partial_window":
                horizon = truth.targets[leak.target].horizon
                assert 0 < leak.bars < horizon
                # its window (t, t+bars] lies inside the target's: a strong, imperfect IC
                assert 0.4 <= ic <= 0.75
            elif leak.kind == "full_window":
                assert 0.7 <= ic <= 0.9
            else:  # mixed: half genuine persistent feature, half future window
                genuine = truth.targets[leak.target].signal_features[0]
                assert truth.persistence[genuine] >= 0.95
                mix = cross_sectional_rank_ic(leak_grid, grid(frame, genuine))
                assert 0.55 <= mix <= 0.85  # 1/sqrt(2) ~ 0.71 in population
                assert ic > truth.measured_rank_ic(frame, genuine, leak.target) + 0.1


def test_ragged_symbols_have_missing_rows_and_warm_up(
    panels: dict[int, SyntheticPanel],
) -> None:
    truth, frame = panels[0].truth, panels[0].frame
    assert len(truth.ragged_symbols()) == 12  # 20% of 60
    days = frame["timestamp"].unique().sort()
    counts = dict(frame.group_by("symbol").len().iter_rows())
    vol_60 = next(
        f
        for f, ic in truth.targets["fwd_vol_5"].feature_rank_ic.items()
        if truth.persistence[f] > 0.99
    )
    late = early = 0
    for symbol in frame["symbol"].unique():
        start, end = truth.entry_exit.get(symbol, (0, truth.n_timestamps))
        assert counts[symbol] == end - start
        rows = frame.filter(pl.col("symbol") == symbol).sort("timestamp")
        assert rows["timestamp"][0] == days[start]
        if start > 0:
            late += 1
            # a late starter has no history: its 60-bar window fills from its first bar
            assert rows[vol_60][:59].is_nan().all() and not rows[vol_60][59:].is_nan().all()
        if end < truth.n_timestamps:
            early += 1
            assert rows["fwd_ret_10"][-10:].is_nan().all()
    assert late == early == 6
    # missing values in legitimate features: about 2%
    share = frame.select(pl.col(truth.noise_features[0]).is_nan().mean()).item()
    assert 0.005 < share < 0.05


def test_genuine_features_are_point_in_time() -> None:
    """A panel generated only up to a cut has exactly the same genuine feature
    values on its bars as a longer one, while every leak differs on the last
    bars before the cut (they read the future): the test fails a feature that
    reads past t."""
    long = make_panel(hard_cases=True, n_symbols=20, n_timestamps=300, ragged_share=0, seed=5)
    cut = make_panel(hard_cases=True, n_symbols=20, n_timestamps=200, ragged_share=0, seed=5)
    head = long.frame.filter(pl.col("timestamp") <= cut.frame["timestamp"].max())
    assert head.height == cut.frame.height
    truth = long.truth
    for feature in truth.legitimate_features():
        assert head[feature].equals(cut.frame[feature], null_equal=True), feature
    for leak in truth.leak_features():
        if leak == next(lk.feature for lk in truth.leaks if lk.kind == "lagged_label"):
            continue  # y[t-lag] is NaN only where its own window passes the cut
        assert not head[leak].equals(cut.frame[leak], null_equal=True), leak


def test_without_leaks_the_rest_is_the_same() -> None:
    with_leaks = make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=2)
    without = make_panel(hard_cases=True, n_symbols=20, n_timestamps=150, seed=2, leaks=False)
    assert not without.truth.leaks
    assert set(with_leaks.frame.columns) - set(without.frame.columns) == set(
        with_leaks.truth.leak_features()
    )
    assert with_leaks.frame.select(without.frame.columns).equals(without.frame)


def test_invalid_hard_case_arguments() -> None:
    with pytest.raises(ValueError, match="own features and targets"):
        make_panel(hard_cases=True, n_signal_features=3)
    with pytest.raises(ValueError, match="only with hard_cases"):
        make_panel(ragged_share=0.1)


def test_trailing_vols_are_past_labels_known_at_t(panels: dict[int, SyntheticPanel]) -> None:
    """The recorded past labels equal their target exactly h bars earlier (a label
    whose window (t-h, t] has closed, known at t). At the leaky lag h-1 they are
    still near-copies (rank IC about 0.90 for h=5, 0.985 for h=20) but strictly
    less close than at lag h: a shifted-copy check has to compare the leaky lags
    with the known ones, not only against a fixed 0.95."""
    truth, frame = panels[0].truth, panels[0].frame
    assert [(t, lag) for _, t, lag in truth.past_labels] == [("fwd_vol_5", 5), ("fwd_vol_20", 20)]
    for feature, target, lag in truth.past_labels:
        assert truth.pair_role(feature, target) == "genuine"
        values, label = grid(frame, feature), grid(frame, target)
        ok = ~np.isnan(values[lag:]) & ~np.isnan(label[:-lag])
        assert ok.sum() > 1000
        np.testing.assert_allclose(values[lag:][ok], label[:-lag][ok], rtol=1e-5)
        leaky = cross_sectional_rank_ic(values[lag - 1 :], label[: -(lag - 1)])
        known = cross_sectional_rank_ic(values[lag:], label[:-lag])
        assert known > 0.999 and 0.85 < leaky < known - 0.005

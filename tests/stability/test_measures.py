"""Tests for panelml.stability.measures (reference values from Nogueira et al., JMLR 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from panelml.stability import (
    StabilityEstimate,
    StabilityThresholds,
    jaccard_topk,
    kendall_tau_union,
    kuncheva_index,
    mean_pairwise_jaccard,
    nogueira_stability,
    psi,
    selection_frequency,
    selection_matrix,
    stability_warnings,
)


def _random_equal_size(rng: np.random.Generator, M: int, d: int, k: int) -> np.ndarray:
    Z = np.zeros((M, d), dtype=np.int8)
    for i in range(M):
        Z[i, rng.choice(d, size=k, replace=False)] = 1
    return Z


# --- Nogueira's Phi -----------------------------------------------------------------


def test_identical_selections_give_one_with_zero_variance() -> None:
    est = nogueira_stability([[1, 1, 0]] * 3)
    assert est.phi == pytest.approx(1.0)
    assert est.variance == pytest.approx(0.0, abs=1e-15)
    assert est.ci_low == pytest.approx(1.0) and est.ci_high == pytest.approx(1.0)
    assert (est.n_selections, est.n_features, est.mean_size) == (3, 3, 2.0)
    assert est.defined and est.reason is None


def test_maximally_disagreeing_selections_reach_the_lower_bound() -> None:
    est = nogueira_stability([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    assert est.phi == pytest.approx(-0.5)
    assert est.phi == pytest.approx(-1.0 / (est.n_selections - 1))


def test_reference_value_with_five_features() -> None:
    Z = [[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0]]
    est = nogueira_stability(Z)
    assert est.phi == pytest.approx(0.30556, abs=1e-5)
    assert est.variance > 0
    assert est.ci_low < est.phi < est.ci_high
    assert est.ci_high - est.phi == pytest.approx(1.959964 * math.sqrt(est.variance), rel=1e-6)


def test_random_selection_is_about_zero() -> None:
    Z = _random_equal_size(np.random.default_rng(12345), M=100, d=10, k=4)
    est = nogueira_stability(Z)
    assert abs(est.phi) < 0.05
    assert est.ci_low < 0.0 < est.ci_high


def test_equals_kuncheva_for_equal_sizes() -> None:
    rng = np.random.default_rng(7)
    for M, d, k in [(5, 10, 3), (20, 30, 7), (2, 4, 2), (50, 12, 11)]:
        Z = _random_equal_size(rng, M, d, k)
        assert nogueira_stability(Z).phi == pytest.approx(kuncheva_index(Z), abs=1e-12)


def test_kuncheva_rejects_unequal_sizes() -> None:
    with pytest.raises(ValueError, match="equal size"):
        kuncheva_index([[1, 0, 0], [1, 1, 0]])


def test_different_sizes_are_supported() -> None:
    Z = [[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]
    est = nogueira_stability(Z)
    assert est.defined
    assert est.mean_size == pytest.approx(2.5)
    assert 0.0 < est.phi < 1.0


def test_undefined_cases_give_nan_and_a_reason() -> None:
    for Z, word in [
        ([[0, 0, 0], [0, 0, 0]], "every selection is empty"),
        ([[1, 1], [1, 1], [1, 1]], "all features"),
        ([[1, 0, 1]], "fewer than 2"),
    ]:
        est = nogueira_stability(Z)
        assert math.isnan(est.phi) and math.isnan(est.variance)
        assert not est.defined
        assert est.reason is not None and word in est.reason


def test_invalid_matrix_is_rejected() -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        nogueira_stability([[1, 2], [0, 1]])
    with pytest.raises(ValueError, match="2-d"):
        nogueira_stability([1, 0, 1])


def test_variance_matches_the_sampling_variance() -> None:
    """The asymptotic variance should track the spread of Phi over resamples."""
    rng = np.random.default_rng(2)
    q = np.array([0.95, 0.95, 0.9, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02])
    phis, variances = [], []
    for _ in range(800):
        est = nogueira_stability((rng.random((150, q.size)) < q).astype(np.int8))
        phis.append(est.phi)
        variances.append(est.variance)
    assert np.mean(variances) == pytest.approx(np.var(phis), rel=0.2)


@settings(max_examples=150, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(2, 8), st.integers(2, 8)), elements=st.integers(0, 1)))
def test_phi_is_bounded(Z: np.ndarray) -> None:
    est = nogueira_stability(Z)
    k = Z.mean(axis=0).sum()
    if 0 < k < Z.shape[1]:
        M = Z.shape[0]
        assert -1.0 / (M - 1) - 1e-12 <= est.phi <= 1.0 + 1e-12
        assert est.variance >= 0.0
    else:
        assert not est.defined


# --- selection matrix and frequency -----------------------------------------------


def test_selection_matrix_from_name_sets() -> None:
    Z, names = selection_matrix([{"a", "b"}, ["b"], ()], ["a", "b", "c"])
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(Z, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    assert selection_frequency(Z, names) == {"a": 1 / 3, "b": 2 / 3, "c": 0.0}


def test_selection_matrix_rejects_unknown_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match="'z'"):
        selection_matrix([{"a", "z"}], ["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        selection_matrix([{"a"}], ["a", "a"])
    with pytest.raises(ValueError, match="columns"):
        selection_frequency(np.ones((2, 3)), ["a", "b"])


# --- Jaccard and Kendall ------------------------------------------------------------


def test_jaccard_topk() -> None:
    assert jaccard_topk(["a", "b", "c", "d"], ["b", "a", "x", "y"], 2) == 1.0
    assert jaccard_topk(["a", "b", "c"], ["a", "x", "y"], 2) == pytest.approx(1 / 3)
    assert jaccard_topk(["a", "b"], ["c", "d"], 2) == 0.0
    assert jaccard_topk(["a"], ["a", "b"], 5) == pytest.approx(0.5)
    assert math.isnan(jaccard_topk([], [], 3))
    with pytest.raises(ValueError):
        jaccard_topk(["a"], ["a"], 0)
    with pytest.raises(ValueError, match="twice"):
        jaccard_topk(["a", "a"], ["a"], 2)


def test_mean_pairwise_jaccard() -> None:
    rankings = [["a", "b", "c"], ["a", "b", "d"], ["a", "c", "b"]]
    # pairs at k=2: {a,b}&{a,b}=1, {a,b}&{a,c}=1/3, {a,b}&{a,c}=1/3
    assert mean_pairwise_jaccard(rankings, 2) == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert math.isnan(mean_pairwise_jaccard([["a"]], 1))


def test_kendall_tau_union_basic() -> None:
    a = {"x": 3.0, "y": 2.0, "z": 1.0}
    assert kendall_tau_union(a, a) == pytest.approx(1.0)
    assert kendall_tau_union(a, {"x": 1.0, "y": 2.0, "z": 3.0}) == pytest.approx(-1.0)


def test_kendall_tau_union_missing_features_rank_lowest() -> None:
    a = {"x": 3.0, "y": 2.0, "z": 1.0}
    b = {"x": 3.0, "y": 2.0}  # z missing -> importance 0 in b, still the lowest
    assert kendall_tau_union(a, b) == pytest.approx(1.0)
    # signed importances: a missing feature goes below the most negative one
    c = {"x": 0.5, "y": -0.2, "z": -0.4}
    d = {"x": 0.5, "y": -0.2}
    assert kendall_tau_union(c, d) == pytest.approx(1.0)
    # union includes features present only on one side
    e = {"w": 5.0, "x": 3.0}
    tau = kendall_tau_union(a, e)
    assert -1.0 <= tau < 1.0


def test_kendall_tau_union_undefined_and_invalid() -> None:
    assert math.isnan(kendall_tau_union({"x": 1.0}, {"x": 2.0}))
    assert math.isnan(kendall_tau_union({"x": 1.0, "y": 1.0}, {"x": 1.0, "y": 2.0}))
    with pytest.raises(ValueError, match="non-finite"):
        kendall_tau_union({"x": float("nan"), "y": 1.0}, {"x": 1.0})


# --- PSI ---------------------------------------------------------------------------


def test_psi_identical_is_zero_and_shift_is_large() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    assert psi(base, base) == pytest.approx(0.0, abs=1e-12)
    assert psi(base, rng.normal(size=5000)) < 0.05
    assert psi(base, rng.normal(loc=1.0, size=5000)) > 0.25


def test_psi_hand_computed_with_empty_bin() -> None:
    base = np.arange(1.0, 11.0)  # ten values, edges at the deciles -> 10 bins of 10%
    test = np.full(10, 10.0)  # everything falls in the last bin
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1.0 - 0.1) * math.log(1.0 / 0.1)
    assert psi(base, test) == pytest.approx(expected, rel=1e-12)


def test_psi_ignores_non_finite_and_validates() -> None:
    base = np.arange(100.0)
    assert psi(np.append(base, np.nan), np.append(base, np.inf)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="no finite"):
        psi([np.nan], [1.0])
    with pytest.raises(ValueError, match="bins"):
        psi(base, base, bins=0)


# --- thresholds and warnings -------------------------------------------------------


def test_thresholds_defaults_and_frozen() -> None:
    th = StabilityThresholds()
    assert (th.nogueira_warn, th.jaccard_warn, th.kendall_warn) == (0.4, 0.5, 0.3)
    assert (th.psi_warn, th.psi_alert) == (0.10, 0.25)
    with pytest.raises(AttributeError):
        th.nogueira_warn = 0.5  # type: ignore[misc]


def test_stability_warnings() -> None:
    low = nogueira_stability([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    high = nogueira_stability([[1, 1, 0]] * 3)
    undefined = StabilityEstimate(
        math.nan, math.nan, math.nan, math.nan, 1, 3, 1.0, "fewer than 2 selections"
    )
    assert stability_warnings(nogueira=high, jaccard=0.9, kendall=0.8) == []
    msgs = stability_warnings(
        nogueira=low,
        jaccard=0.2,
        kendall=0.1,
        psi_values={"a": 0.3, "b": 0.15, "c": 0.01},
        context="target fwd_ret_5",
    )
    assert len(msgs) == 5
    assert all(m.startswith("target fwd_ret_5: ") for m in msgs)
    assert "Phi = -0.500" in msgs[0]
    assert any("'a'" in m and "significantly" in m for m in msgs)
    assert any("'b'" in m and "moderately" in m for m in msgs)
    assert "undefined" in stability_warnings(nogueira=undefined)[0]
    strict = StabilityThresholds(nogueira_warn=1.01)
    assert len(stability_warnings(nogueira=high, thresholds=strict)) == 1
    assert stability_warnings(jaccard=math.nan, kendall=math.nan) == []

"""Benjamini-Hochberg (1995) and Benjamini-Yekutieli (2001) step-up control."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelml.validation import adjust_pvalues, bh_adjust, by_adjust, reject


def test_reference_values() -> None:
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    np.testing.assert_allclose(bh_adjust(p), [0.05] * 5, atol=1e-6)
    np.testing.assert_allclose(by_adjust(p), [0.114167] * 5, atol=1e-6)
    np.testing.assert_allclose(adjust_pvalues(p), by_adjust(p))
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), bh_adjust(p))


def test_step_up_not_stop_at_first_failure() -> None:
    p = [0.001, 0.04, 0.041, 0.042]
    # step-down would stop at 0.04 > 2 * 0.05 / 4; step-up rejects all since 0.042 <= 0.05
    assert reject(p, q=0.05, method="bh").all()
    np.testing.assert_allclose(bh_adjust(p), [0.004, 0.042, 0.042, 0.042])
    assert list(reject(p, q=0.05, method="by")) == [True, False, False, False]


def test_nan_excluded_from_m_and_order_kept() -> None:
    p = np.array([0.05, np.nan, 0.01, 0.03])
    adj = bh_adjust(p)
    assert np.isnan(adj[1])
    np.testing.assert_allclose(adj[[2, 3, 0]], [0.03, 0.045, 0.05])  # m = 3
    assert list(reject(p, 0.05, "bh")) == [True, False, True, True]
    assert np.isnan(bh_adjust([np.nan])).all() and bh_adjust([]).size == 0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bh_adjust([0.5, 1.5])
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues([0.5], "holm")  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30),
    st.floats(0.01, 0.5),
    st.sampled_from(["bh", "by"]),
)
def test_matches_definition(p: list[float], q: float, method: str) -> None:
    arr = np.array(p)
    m = arr.size
    c = np.sum(1.0 / np.arange(1, m + 1)) if method == "by" else 1.0
    srt = np.sort(arr)
    below = np.flatnonzero(srt <= np.arange(1, m + 1) * q / (m * c))
    k_star = below[-1] + 1 if below.size else 0
    expected = arr <= (srt[k_star - 1] if k_star else -1.0)
    adj = adjust_pvalues(arr, method)  # type: ignore[arg-type]
    # allow float ties at the threshold
    near = np.isclose(adj, q, rtol=1e-9)
    assert np.array_equal(reject(arr, q, method)[~near], expected[~near])  # type: ignore[arg-type]
    assert np.all(adj >= arr - 1e-15) and np.all(adj <= 1.0)
    order = np.argsort(arr, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in p

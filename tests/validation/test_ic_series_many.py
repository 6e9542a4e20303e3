"""``ic_series_many`` gives, copy by copy, exactly what one ``ic_series`` call per
copy gives: the target's ranks are formed once, nothing else changes. Equality
is exact (``array_equal``), so any difference in rows, skipped timestamps or
arithmetic fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from panelml.validation.metrics import ICSeries, ic_series, ic_series_many


def _panel(
    seed: int, ragged: bool, shuffled: bool, missing: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(predictions: 7 copies x rows, target, timestamps) with ties, constant
    cross-sections, a few tiny timestamps and optional gaps."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, 60) if ragged else np.full(60, 25)
    ts = np.repeat(np.arange(60) * 7 + 3, sizes)
    y = np.round(rng.standard_normal(ts.size), 1)  # ties
    y[ts == ts[0]] = 1.0  # one constant label cross-section
    if missing:
        y[rng.random(ts.size) < 0.1] = np.nan
    P = rng.standard_normal((7, ts.size)) + 0.3 * np.nan_to_num(y)
    P[2] = np.round(P[2])  # a tied copy
    P[3, ts == ts[-1]] = 0.5  # a copy constant in one cross-section
    if shuffled:
        order = rng.permutation(ts.size)
        P, y, ts = P[:, order], y[order], ts[order]
    return P, y, ts


def _same(a: ICSeries, b: ICSeries) -> None:
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.n_names, b.n_names)
    assert (a.n_skipped, a.method) == (b.n_skipped, b.method)


@pytest.mark.parametrize("method", ["rank", "pearson"])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("missing", [False, True])
def test_many_equals_one_call_per_copy(
    method: Any, ragged: bool, shuffled: bool, missing: bool
) -> None:
    P, y, ts = _panel(0, ragged, shuffled, missing)
    many = ic_series_many(P, y, ts, method=method, min_names=5)
    assert len(many) == P.shape[0]
    for p, got in zip(P, many, strict=True):
        _same(got, ic_series(p, y, ts, method=method, min_names=5))
    assert any(s.n_skipped > 0 for s in many)  # the constant and tiny cross-sections


def test_copies_with_missing_predictions_and_empty_input() -> None:
    P, y, ts = _panel(1, False, False, False)
    P[4, :10] = np.nan
    P[5, 3] = np.inf
    for p, got in zip(P, ic_series_many(P, y, ts), strict=True):
        _same(got, ic_series(p, y, ts))
    assert ic_series_many(np.zeros((0, ts.size)), y, ts) == []
    (empty,) = ic_series_many(np.zeros((1, 0)), np.zeros(0), np.zeros(0))
    _same(empty, ic_series(np.zeros(0), np.zeros(0), np.zeros(0)))


def test_shape_errors_name_the_sizes() -> None:
    with pytest.raises(ValueError, match="copies, rows"):
        ic_series_many(np.zeros((2, 5)), np.zeros(4), np.zeros(5))

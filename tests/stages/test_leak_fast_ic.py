"""The leakage screen's rank-once IC engine gives exactly the findings of the per-pair path.

:class:`~panelml.stages.leakage._ranks.CrossSections` ranks every feature once
and scores complete cross-sections by matrix products, re-ranking only the
(feature, timestamp) pairs with a missing value. Its series must be bitwise
those of one :func:`~panelml.validation.ic_series` call per pair, and the
shifted-copy prefilter must pick the same candidates as the row-wise formula it
replaced; then the whole report is identical to the one computed with those
straightforward references swapped in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from panelml.data.panel import Panel
from panelml.data.shift import row_grid, shift_values
from panelml.data.synthetic import make_panel
from panelml.stages.leakage import LeakageScreenParams, _screen, screen_panel
from panelml.stages.leakage._ranks import CrossSections
from panelml.stages.leakage._timing import shifted_copy_candidates
from panelml.validation.metrics import ICSeries, ic_series
from panelml.validation.ranks import cross_sectional_ranks
from panelml.validation.timestamps import subsample_rows

F64 = npt.NDArray[np.float64]


class ReferenceSections:
    """The straightforward path: one ``ic_series`` call per pair, the row-wise prefilter."""

    def __init__(
        self,
        X: npt.NDArray[Any],
        timestamps: npt.NDArray[Any],
        min_names: int,
        take: Any,
        pooled_keep: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.X, self.ts, self.min_names, self.take = X, np.asarray(timestamps), min_names, take
        self.pooled_keep = pooled_keep
        self._ranked: F64 | None = None

    def many(self, columns: Sequence[int], y: F64) -> dict[int, ICSeries]:
        t = self.take
        y_t = np.asarray(y, dtype=np.float64)[t]
        return {
            j: ic_series(
                np.asarray(self.X[:, j], dtype=np.float64)[t],
                y_t,
                self.ts[t],
                method="rank",
                min_names=self.min_names,
            )
            for j in columns
        }

    def percentile_ranks(self, j: int) -> F64:
        return cross_sectional_ranks(np.asarray(self.X[:, j], dtype=np.float64), self.ts)

    def pooled_rank_corr(self, labels: Sequence[F64]) -> F64:
        """The prefilter as it was written row-wise, one label at a time."""
        if self._ranked is None:
            self._ranked = np.column_stack(
                [
                    _centred(np.asarray(self.X[:, j], dtype=np.float64), self.ts)
                    for j in range(self.X.shape[1])
                ]
            )
            if self.pooled_keep is not None:
                self._ranked[~self.pooled_keep] = 0.0
        ranked = self._ranked
        present = ranked != 0.0
        out = np.zeros((ranked.shape[1], len(labels)))
        for k, shifted in enumerate(labels):
            ry = _centred(shifted, self.ts)
            known = np.isfinite(shifted)
            num = ranked[known].T @ ry[known]
            den_x = np.sqrt((ranked[known] ** 2).sum(axis=0))
            den_y = np.sqrt(present[known].T.astype(np.float64) @ (ry[known] ** 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = np.abs(num) / (den_x * den_y)
        return out


def _centred(values: F64, timestamps: npt.NDArray[Any]) -> F64:
    r = cross_sectional_ranks(values, timestamps) - 0.5
    return np.where(np.isfinite(r), r, 0.0)


def _panels() -> list[tuple[str, Panel]]:
    out = []
    for seed in (0, 1):
        out.append((f"leaks-{seed}", make_panel(n_symbols=30, n_timestamps=120, seed=seed)))
        hard = make_panel(n_symbols=30, n_timestamps=120, hard_cases=True, leaks=True, seed=seed)
        out.append((f"hard-{seed}", hard))
    return [(name, p.to_panel()) for name, p in out]


PANELS = _panels()


def _assert_same(got: ICSeries, want: ICSeries) -> None:
    np.testing.assert_array_equal(got.timestamps, want.timestamps)
    np.testing.assert_array_equal(got.n_names, want.n_names)
    np.testing.assert_array_equal(got.values, want.values)  # bitwise: exact arithmetic
    assert got.n_skipped == want.n_skipped


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[n for n, _ in PANELS])
@pytest.mark.parametrize("cap", [None, 12])
def test_series_equal_one_ic_series_call_per_pair(name: str, panel: Panel, cap: int | None) -> None:
    take: Any = slice(None)
    if cap is not None:
        take = subsample_rows(panel.timestamps, max_rows_per_timestamp=cap, seed=1)
    fast = CrossSections(panel.X, panel.timestamps, 5, take)
    ref = ReferenceSections(panel.X, panel.timestamps, 5, take)
    grid = row_grid(panel)
    columns = list(range(panel.n_features))
    for target in panel.target_names:
        y = np.asarray(panel.targets[target], dtype=np.float64)
        h = int(panel.horizons[target])
        for shift in (0, -h, h):
            label = shift_values(panel, y, shift, grid) if shift else y
            got, want = fast.many(columns, label), ref.many(columns, label)
            for j in columns:
                _assert_same(got[j], want[j])
        some = columns[1::3]
        got = fast.many(some, y)
        assert list(got) == some
        for j in some:
            _assert_same(got[j], ref.many([j], y)[j])


def test_ragged_timestamps_use_blocks_and_stay_exact() -> None:
    """Cross-sections of very different sizes are split into blocks, same numbers."""
    rng = np.random.default_rng(7)
    sizes = np.where(np.arange(300) % 25 == 0, 400, rng.integers(3, 12, 300))
    ts = np.repeat(np.arange(300), sizes)
    X = rng.normal(size=(ts.size, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 2] = np.round(X[:, 2])  # ties
    y = rng.normal(size=ts.size) + X[:, 0]
    y[rng.random(ts.size) < 0.03] = np.nan
    fast = CrossSections(X, ts, 3, slice(None))
    assert len(fast.blocks) > 1
    for j in range(6):
        np.testing.assert_array_equal(fast.percentile_ranks(j), cross_sectional_ranks(X[:, j], ts))
    ref = ReferenceSections(X, ts, 3, slice(None))
    got, want = fast.many(range(6), y), ref.many(range(6), y)
    for j in range(6):
        _assert_same(got[j], want[j])
    labels = [y, np.roll(y, 1)]
    np.testing.assert_allclose(
        fast.pooled_rank_corr(labels), ref.pooled_rank_corr(labels), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[n for n, _ in PANELS])
def test_prefilter_matches_the_row_wise_formula(name: str, panel: Panel) -> None:
    grid = row_grid(panel)
    keep = np.zeros(panel.n_rows, dtype=bool)
    keep[subsample_rows(panel.timestamps, max_rows_per_timestamp=12, seed=2)] = True
    for pooled_keep in (None, keep):
        fast = CrossSections(panel.X, panel.timestamps, 5, slice(None), pooled_keep)
        ref = ReferenceSections(panel.X, panel.timestamps, 5, slice(None), pooled_keep)
        for j in range(panel.n_features):
            x = np.asarray(panel.X[:, j], dtype=np.float64)
            want_ranks = cross_sectional_ranks(x, panel.timestamps)
            np.testing.assert_array_equal(fast.percentile_ranks(j), want_ranks)
        for target in panel.target_names:
            y = np.asarray(panel.targets[target], dtype=np.float64)
            h = max(int(panel.horizons[target]), 3)
            labels = [shift_values(panel, y, s, grid) for s in (-2, -1, 1, 2)]
            np.testing.assert_allclose(
                np.nan_to_num(fast.pooled_rank_corr(labels)),
                np.nan_to_num(ref.pooled_rank_corr(labels)),
                rtol=1e-12,
                atol=1e-14,
            )
            for cutoff in (0.05, 0.3):
                got = shifted_copy_candidates(fast, panel, y, h, grid, cutoff)
                want = shifted_copy_candidates(ref, panel, y, h, grid, cutoff)  # type: ignore[arg-type]
                assert got == want


PARAMS = {
    "default": LeakageScreenParams(),
    "capped": LeakageScreenParams(max_rows_per_timestamp=12),
    "strict-ratio": LeakageScreenParams(policy="strict", future_info={"model": "ratio"}),
    "wide-prefilter": LeakageScreenParams(shifted_copy={"threshold": 0.5}),
}


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[n for n, _ in PANELS])
@pytest.mark.parametrize("which", list(PARAMS))
def test_report_identical_to_the_per_pair_reference(
    name: str, panel: Panel, which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = PARAMS[which]
    fast = screen_panel(panel, params, target_patterns=["fwd_*"], seed=4)
    monkeypatch.setattr(_screen, "CrossSections", ReferenceSections)
    reference = screen_panel(panel, params, target_patterns=["fwd_*"], seed=4)
    assert fast.height > 0
    assert fast.equals(reference), pl.concat([fast, reference]).unique(keep="none")

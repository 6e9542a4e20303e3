"""The batched rank IC (leakage screen, feature selection) equals one call per
(feature, label), and the screen's report does not change with the batching.

The batched call stacks features into (feature, timestamp) groups; a wrong
offset, a mixed-up block boundary or ranks taken across features would change
values or shift series between features, so exact equality (not a tolerance)
is asserted, over two generator designs (the default complete grid with leaks,
the hard-case design with missing values and ragged symbols), several seeds,
a row subsample, and hand-made columns with heavy tails, ties and NaNs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from panelml.data.panel import Panel
from panelml.data.synthetic import make_panel
from panelml.stages.leakage import LeakageScreenParams, screen_panel
from panelml.validation import batch_ic as _batch_ic
from panelml.validation.batch_ic import RankIC
from panelml.validation.metrics import ICSeries
from panelml.validation.timestamps import subsample_rows

SIZE = {"n_symbols": 30, "n_timestamps": 120}


@pytest.fixture(scope="module")
def panels() -> list[Panel]:
    """Two seeds of the default design, two of the hard-case design."""
    out = [make_panel(seed=seed, n_noise_features=4, **SIZE).to_panel() for seed in (0, 1)]
    out += [make_panel(hard_cases=True, seed=seed, **SIZE).to_panel() for seed in (2, 3)]
    return out


def one_by_one(ic: RankIC, X: Any, columns: Any, y: Any) -> dict[int, ICSeries]:
    return {j: ic(np.asarray(X[:, j], dtype=np.float64), y) for j in columns}


def assert_same(a: ICSeries, b: ICSeries) -> None:
    assert np.array_equal(a.timestamps, b.timestamps)
    assert np.array_equal(a.values, b.values)
    assert np.array_equal(a.n_names, b.n_names)
    assert a.n_skipped == b.n_skipped


@pytest.mark.parametrize("subsample", [False, True])
def test_batched_rank_ic_equals_one_call_per_feature(
    subsample: bool, panels: list[Panel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_ic, "BLOCK_VALUES", 7_000)  # several blocks per call
    rng = np.random.default_rng(5)
    for panel in panels:
        take: Any = slice(None)
        if subsample:
            take = subsample_rows(panel.timestamps, max_rows_per_timestamp=12, seed=1)
        ic = RankIC(panel.timestamps, 5, take)
        heavy = rng.standard_t(2, size=(panel.n_rows, 3))
        heavy[:, 1] = np.round(heavy[:, 1])  # many ties
        heavy[rng.random(panel.n_rows) < 0.2, 2] = np.nan
        X = np.hstack([panel.X, heavy.astype(np.float32)])
        columns = list(range(X.shape[1]))
        for name in panel.target_names:
            y = np.asarray(panel.targets[name], dtype=np.float64)
            batched = ic.many(X, columns, y)
            for j, series in one_by_one(ic, X, columns, y).items():
                assert_same(batched[j], series)


def test_screen_report_is_unchanged_by_batching(
    panels: list[Panel], monkeypatch: pytest.MonkeyPatch
) -> None:
    params = LeakageScreenParams()
    chosen = [panels[0], panels[2]]  # one of each design
    reports = [screen_panel(p, params) for p in chosen]
    monkeypatch.setattr(RankIC, "many", one_by_one)
    for panel, report in zip(chosen, reports, strict=True):
        expected = screen_panel(panel, params)
        assert report.height > 0
        assert report.equals(expected), pl.concat([report, expected]).unique(keep="none")

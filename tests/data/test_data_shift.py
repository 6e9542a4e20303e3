"""Per-symbol time shifts: the same symbol k bars later, -1 / NaN where missing."""

from __future__ import annotations

import numpy as np
import pytest

from panelml.data.panel import Panel
from panelml.data.shift import row_grid, shift_values, shifted_rows


def _panel(drop: tuple[int, ...] = ()) -> Panel:
    """4 timestamps x 3 symbols; value = 10 * t + s; optional rows dropped."""
    t = np.repeat(np.arange(4, dtype=np.int64), 3)
    s = np.tile(np.arange(3, dtype=np.int32), 4)
    keep = np.ones(t.size, dtype=bool)
    keep[list(drop)] = False
    values = (10 * t + s).astype(np.float64)
    return Panel.build(
        X=values[keep, None].astype(np.float32),
        feature_names=["x"],
        targets={"y": values[keep]},
        horizons={"y": 1},
        target_kinds={"y": "regression"},
        timestamps=t[keep] * 100,
        symbol_codes=s[keep],
        symbols=["A", "B", "C"],
    )


def test_grid_holds_row_indices_and_gaps() -> None:
    panel = _panel(drop=(4,))  # symbol B at t=1 missing
    grid = row_grid(panel)
    assert grid.shape == (4, 3)
    assert grid[1, 1] == -1
    rows = grid[grid >= 0]
    assert sorted(rows.tolist()) == list(range(panel.n_rows))


def test_shift_forward_and_back_follow_the_symbol() -> None:
    panel = _panel()
    y = panel.targets["y"]
    ahead = shift_values(panel, y, 1)
    # value 10 t + s becomes 10 (t + 1) + s; the last bar has no successor
    expected = np.where(y >= 30, np.nan, y + 10)
    np.testing.assert_array_equal(ahead, expected)
    back = shift_values(panel, y, -2)
    np.testing.assert_array_equal(back, np.where(y < 20, np.nan, y - 20))
    assert (shifted_rows(panel, 0) == np.arange(panel.n_rows)).all()


def test_missing_rows_give_minus_one_not_another_symbol() -> None:
    panel = _panel(drop=(4,))  # (t=1, B)
    rows = shifted_rows(panel, 1)
    y = panel.targets["y"]
    b_at_0 = int(np.flatnonzero(y == 1.0)[0])
    assert rows[b_at_0] == -1
    assert np.isnan(shift_values(panel, y, 1)[b_at_0])
    found = rows >= 0
    # every found row is the same symbol exactly one bar later
    assert (panel.symbol_codes[rows[found]] == panel.symbol_codes[found]).all()
    assert (panel.timestamp_index[rows[found]] == panel.timestamp_index[found] + 1).all()


def test_shift_beyond_the_panel_is_all_missing() -> None:
    panel = _panel()
    assert (shifted_rows(panel, 7) == -1).all()
    assert (shifted_rows(panel, -4) == -1).all()


def test_values_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(ValueError, match="one entry per row"):
        shift_values(_panel(), np.zeros(3), 1)

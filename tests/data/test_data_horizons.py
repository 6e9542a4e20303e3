"""Horizons: from data.horizons, from target names, bar intervals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from panelml.data import DataConfig, DataError
from panelml.data.horizons import horizon_from_name, parse_interval, resolve_horizon


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h", 3600), ("1d", 86_400), ("30s", 30), ("15min", 900), ("1w", 604_800)],
)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["5", "m5", "0m", "1mo", "1 fortnight"])
def test_parse_interval_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not understood"):
        parse_interval(text)


@pytest.mark.parametrize(
    ("name", "bar", "expected"),
    [
        ("fwd_ret_5", None, 5),
        ("fwd_ret_5", "1h", 5),  # no unit: bars, whatever the bar length
        ("fwd_ret_60m", "5m", 12),
        ("fwd_vol_1d", "1h", 24),
        ("fwd_ret_1d", "1d", 1),
        ("fwd_ret_2h", "30min", 4),
        ("y_up", None, None),
        ("fwd_ret_5x", None, None),
    ],
)
def test_horizon_from_name(name: str, bar: str | None, expected: int | None) -> None:
    assert horizon_from_name(name, bar) == expected


def test_duration_not_a_whole_number_of_bars_names_the_target() -> None:
    with pytest.raises(DataError, match=r"target 'fwd_ret_7m' has a horizon of 7m.*5m bars"):
        horizon_from_name("fwd_ret_7m", "5m")


def test_duration_without_bar_interval_says_to_set_it() -> None:
    with pytest.raises(DataError, match=r"'fwd_ret_60m'.*data\.bar_interval is not set"):
        horizon_from_name("fwd_ret_60m", None)


def test_resolve_order_exact_then_glob_then_name_then_default() -> None:
    horizons = {"fwd_ret_5": 7, "fwd_*": 3}
    assert resolve_horizon("fwd_ret_5", horizons, None) == (7, True)
    assert resolve_horizon("fwd_ret_10", horizons, None) == (3, True)
    assert resolve_horizon("y_up_4", horizons, None) == (4, True)
    assert resolve_horizon("y_up", horizons, None) == (1, False)


def test_config_validates_bar_interval_and_horizons() -> None:
    with pytest.raises(ValidationError, match="is not understood"):
        DataConfig(path="x", bar_interval="5 parsecs")
    with pytest.raises(ValidationError, match="at least 1 bar"):
        DataConfig(path="x", horizons={"y": 0})

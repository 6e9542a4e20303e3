"""Tests for FeatureSpec validation, YAML loading and build_features_file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from panelml.features import (
    FeatureBuildError,
    FeatureSpec,
    build_features,
    build_features_file,
    load_feature_spec,
)


def test_spec_defaults_and_normalisation() -> None:
    spec = FeatureSpec()
    assert spec.return_lags == [1, 5, 10, 20, 60]
    assert spec.horizons == [1, 5, 20]
    assert spec.momentum == [(60, 5), (120, 20)]
    assert spec.warmup_bars() == 199  # ma_gap_200 needs 199 earlier bars
    assert FeatureSpec(return_lags=[5, 1, 5]).return_lags == [1, 5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"momentum": [(5, 5)]}, "lookback must exceed the skip"),
        ({"return_lags": [0]}, "greater than or equal to 1"),
        ({"volume_short_window": 20, "volume_window": 20}, "volume_short_window"),
        ({"horizon": [1]}, "horizon"),
        ({"targets": ["fwd_sharpe"]}, "targets"),
    ],
)
def test_spec_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureSpec.model_validate(kwargs)


def test_load_feature_spec_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(
        "features:\n"
        "  return_lags: [1, 3]\n"
        "  momentum: [[20, 2]]\n"
        "  horizons: [2]\n"
        "  cross_sectional: {features: ['ret_*'], zscore: true}\n"
    )
    spec = load_feature_spec(path)
    assert spec.return_lags == [1, 3]
    assert spec.momentum == [(20, 2)]
    assert spec.cross_sectional.zscore
    (tmp_path / "empty.yaml").write_text("")
    assert load_feature_spec(tmp_path / "empty.yaml") == FeatureSpec()
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(FeatureBuildError, match="mapping"):
        load_feature_spec(tmp_path / "bad.yaml")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_build_features_file_roundtrip(tmp_path: Path, panel: pl.DataFrame, fmt: str) -> None:
    src = tmp_path / f"prices.{fmt}"
    if fmt == "csv":
        panel.write_csv(src)
    else:
        panel.write_parquet(src)
    out_path = tmp_path / "out" / "features.parquet"
    spec = FeatureSpec(horizons=[1, 5])
    written = build_features_file(src, out_path, spec)
    assert out_path.exists()
    assert [p.name for p in out_path.parent.iterdir()] == ["features.parquet"]  # no temp left
    back = pl.read_parquet(out_path)
    assert back.equals(written)
    assert back["timestamp"].dtype.is_temporal()
    assert back.drop("timestamp").equals(build_features(panel, spec).drop("timestamp"))


def test_build_features_file_overwrites_and_reports_missing_input(
    tmp_path: Path, panel: pl.DataFrame
) -> None:
    src = tmp_path / "prices.parquet"
    panel.write_parquet(src)
    out_path = tmp_path / "features.parquet"
    out_path.write_text("stale")
    build_features_file(src, out_path, None)
    assert pl.read_parquet(out_path).height == panel.height
    with pytest.raises(FeatureBuildError, match="does not exist"):
        build_features_file(tmp_path / "nope.parquet", out_path, None)


def test_failed_build_leaves_no_partial_file(tmp_path: Path, panel: pl.DataFrame) -> None:
    src = tmp_path / "prices.parquet"
    panel.drop("close").write_parquet(src)
    out_path = tmp_path / "features.parquet"
    with pytest.raises(FeatureBuildError, match="'close'"):
        build_features_file(src, out_path, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.parquet"]

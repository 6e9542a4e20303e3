"""Bad configs and bad data through ``panelml run`` and ``panelml validate``: each
is one ``error:`` line with exit 2 before any stage runs, and no run finishes.

Each case failed before this suite existed in one of three ways: the run
crashed with a traceback (exit 1), went on silently (exit 0, every target
``degenerate``), or ``validate`` said ok.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from inputs_helpers import assert_one_error, base_config, base_frame, write_case
from typer.testing import CliRunner

from panelml.cli import app

runner = CliRunner()

Case = tuple[Callable[[Path], Path], tuple[str, ...]]


def _config(**sections: Any) -> Callable[[Path], Path]:
    return lambda folder: write_case(folder, config=base_config(**sections))


def _frame(
    change: Callable[[pl.DataFrame], pl.DataFrame],
    data_name: str = "panel.parquet",
    **sections: Any,
) -> Callable[[Path], Path]:
    return lambda folder: write_case(
        folder, frame=change(base_frame()), config=base_config(**sections), data_name=data_name
    )


def _lgb(stage: str, **params: Any) -> dict[str, Any]:
    return {stage: {"family_params": {"lightgbm": params}}}


def _semicolon_csv(folder: Path) -> Path:
    path = write_case(folder, config=base_config(data={"path": "panel.csv"}))
    text = base_frame().head(50).write_csv(separator=";")
    (folder / "panel.csv").write_text(text, encoding="utf-8")
    return path


def _parquet_named_csv(folder: Path) -> Path:
    path = write_case(folder, config=base_config(data={"path": "panel.csv", "format": "csv"}))
    base_frame().write_parquet(folder / "panel.csv")
    return path


def _csv_as_parquet(folder: Path) -> Path:
    return write_case(folder, config=base_config(data={"format": "parquet"}), data_name="panel.csv")


def _binary_csv(folder: Path) -> Path:
    path = write_case(folder, config=base_config(data={"path": "panel.csv"}))
    (folder / "panel.csv").write_bytes(b"symbol,timestamp\x00\x01\x02" * 20)
    return path


def _missing_file(folder: Path) -> Path:
    path = write_case(folder)
    (folder / "panel.parquet").unlink()
    return path


def _renamed(column: str, new: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.rename({column: new})


def _nan_features(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in f.columns[2:6])


def _one_timestamp(f: pl.DataFrame) -> pl.DataFrame:
    return f.filter(pl.col("timestamp") == f["timestamp"].min())


def _symbols(n: int) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.filter(pl.col("symbol").is_in([f"S{i:02d}" for i in range(n)]))


def _constant_target(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.lit(0.5).alias("fwd_ret_5"))


def _text_timestamps(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(pl.format("day {}", pl.col("timestamp").dt.day()).alias("timestamp"))


def _duplicates(f: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([f, f.head(3)])


def _null_symbols(f: pl.DataFrame) -> pl.DataFrame:
    return f.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("symbol")).alias("symbol")
    )


CASES: dict[str, Case] = {
    # model families and their params (finding 9: validate said ok, run failed later)
    "training-family-typo": (_config(training={"families": ["xgbost"]}), ("xgbost", "xgboost")),
    "ranking-family-typo": (
        _config(target_ranking={"families": ["lightgbn"]}),
        ("target_ranking.families[0]", "lightgbm"),
    ),
    "training-num-leaves": (_config(**_lgb("training", num_leaves=-5)), ("num_leaves",)),
    "ranking-num-leaves": (
        _config(**_lgb("target_ranking", num_leaves=-5)),
        ("target_ranking.family_params.lightgbm", "num_leaves"),
    ),
    "selection-min-data": (
        _config(**_lgb("feature_selection", min_data_in_leaf=-1)),
        ("feature_selection.family_params.lightgbm", "min_data_in_leaf"),
    ),
    "lightgbm-zero-trees": (_config(**_lgb("training", n_estimators=0)), ("n_estimators",)),
    "lightgbm-text-trees": (_config(**_lgb("training", n_estimators="many")), ("n_estimators",)),
    "ridge-negative-alpha": (
        _config(training={"families": ["ridge"], "family_params": {"ridge": {"alpha": -1}}}),
        ("training.family_params.ridge", "alpha"),
    ),
    "ridge-unknown-key": (
        _config(training={"families": ["ridge"], "family_params": {"ridge": {"alpah": 1}}}),
        ("ridge", "alpah"),
    ),
    "forest-zero-trees": (
        _config(
            training={
                "families": ["random_forest"],
                "family_params": {"random_forest": {"n_estimators": 0}},
            }
        ),
        ("random_forest", "n_estimators"),
    ),
    "hist-gb-one-leaf": (
        _config(
            training={"families": ["hist_gb"], "family_params": {"hist_gb": {"max_leaf_nodes": 1}}}
        ),
        ("hist_gb", "max_leaf_nodes"),
    ),
    "dotted-family-not-a-family": (
        _config(training={"families": ["collections:OrderedDict"]}),
        ("training.families[0]", "ModelFamily"),
    ),
    "importance-family-typo": (
        _config(feature_selection={"importances": [{"family": "lightgbmm", "kind": "gain"}]}),
        ("feature_selection.importances[0].family", "lightgbm"),
    ),
    "importance-kind-typo": (
        _config(feature_selection={"importances": [{"family": "lightgbm", "kind": "gian"}]}),
        ("importances[0].kind", "gain"),
    ),
    "importance-univariate-kind": (
        _config(feature_selection={"importances": [{"family": "univariate", "kind": "ic"}]}),
        ("univariate", "rank_ic"),
    ),
    # stage inputs and the executor
    "selection-without-targets": (
        _config(pipeline={"stages": ["feature_selection"]}),
        ("feature_selection.targets",),
    ),
    "training-without-targets": (
        _config(pipeline={"stages": ["training"]}),
        ("training.targets",),
    ),
    "ray-not-installed": (_config(runtime={"executor": "ray"}), ("runtime.executor", "ray")),
    # data source, format and columns (finding 11)
    "data-file-missing": (_missing_file, ("does not exist", "data.path")),
    "csv-with-semicolons": (_semicolon_csv, ("separated by ';'",)),
    "parquet-read-as-csv": (_parquet_named_csv, ("parquet", "data.format")),
    "csv-read-as-parquet": (_csv_as_parquet, ("as parquet", "data.format")),
    "binary-file-as-csv": (_binary_csv, ("binary",)),
    "symbol-column-missing": (_frame(_renamed("symbol", "ticker")), ("symbol column",)),
    "timestamp-column-missing": (_frame(_renamed("timestamp", "date")), ("timestamp column",)),
    "no-target-matches": (_frame(_renamed("fwd_ret_5", "ret")), ("data.targets",)),
    "feature-named-missing": (
        _config(data={"features": ["feat_0", "feat_9"]}),
        ("'feat_9'", "data.features"),
    ),
    # unsafe target names (finding 6)
    "target-name-angle": (_frame(_renamed("fwd_ret_5", "fwd_ret<5")), ("file name", "'<'")),
    "target-name-slash": (_frame(_renamed("fwd_ret_5", "fwd_ret/5")), ("file name", "'/'")),
    "target-name-space": (_frame(_renamed("fwd_ret_5", "fwd_ret 5")), ("file name",)),
    # values (finding 8)
    "all-features-nan": (_frame(_nan_features), ("every feature column",)),
    "constant-target": (_frame(_constant_target), ("every target", "constant")),
    "text-timestamps": (_frame(_text_timestamps), ("timestamp column",)),
    "duplicate-rows": (_frame(_duplicates), ("duplicate",)),
    "null-symbols": (_frame(_null_symbols), ("missing value",)),
    "header-only": (_frame(lambda f: f.head(0)), ("no rows",)),
    # panels that cannot support the validation (finding 8)
    "one-timestamp": (_frame(_one_timestamp), ("1 timestamp",)),
    "one-symbol": (_frame(_symbols(1)), ("1 symbol", "validation.min_names")),
    "three-symbols": (_frame(_symbols(3)), ("3 symbol", "validation.min_names")),
    "n-splits-too-large": (
        _config(validation={"n_splits": 45}),
        ("n_splits", "80 timestamps"),
    ),
    "embargo-too-large": (_config(validation={"embargo": 70}), ("validation", "embargo")),
    "walk-forward-embargo": (
        _config(validation={"scheme": "walk_forward", "n_splits": 10, "embargo": 40}),
        ("validation", "n_splits"),
    ),
    "ranking-min-timestamps": (
        _config(target_ranking={"min_timestamps": 200}),
        ("target_ranking.min_timestamps",),
    ),
    "training-scheme-override": (
        _config(
            pipeline={"stages": ["training"]},
            training={"targets": ["fwd_ret_5"], "scheme": "walk_forward"},
            validation={"n_splits": 30, "embargo": 30},
        ),
        ("training.scheme",),
    ),
}

VALIDATE_CASES = [
    "training-family-typo",
    "ranking-family-typo",
    "training-num-leaves",
    "ridge-negative-alpha",
    "importance-kind-typo",
    "selection-without-targets",
    "data-file-missing",
    "csv-with-semicolons",
    "parquet-read-as-csv",
    "target-name-slash",
    "symbol-column-missing",
    "one-symbol",
    "one-timestamp",
    "n-splits-too-large",
    "embargo-too-large",
    "training-scheme-override",
]
"""Faults ``panelml validate`` finds without loading rows or fitting a model."""


def _hide_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``ray`` look absent (the dev install has it) for the preflight's check."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "ray" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_refuses_a_bad_input_with_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case == "ray-not-installed":
        _hide_ray(monkeypatch)
    setup, fragments = CASES[case]
    config = setup(tmp_path)
    result = runner.invoke(app, ["run", str(config), "-q", "--run-id", "r1"])
    assert_one_error(result, tmp_path, *fragments)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("entry.json"))


@pytest.mark.parametrize("case", VALIDATE_CASES)
def test_validate_finds_it_without_a_fit(case: str, tmp_path: Path) -> None:
    setup, fragments = CASES[case]
    config = setup(tmp_path)
    result = runner.invoke(app, ["validate", str(config)])
    assert_one_error(result, tmp_path, *fragments)
    assert not (tmp_path / "runs").exists()


def test_validate_accepts_the_good_config(tmp_path: Path) -> None:
    config = write_case(tmp_path)
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout

"""``validation.scheme: cpcv`` through the config, the fold plan and the fitting stages.

CPCV tests every row once per backtest path. The checks: the YAML section
accepts the scheme and refuses an impossible group count; every row gets one
prediction per path, on distinct paths; the OOF prediction is the path mean
(ranking and training alike, so both report the same IC); training records each
OOF row's path in ``paths_<target>`` and reports metrics per test group; and
the significance treats CPCV like purged K-fold (the same variance factor).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from panelml import api
from panelml.data.synthetic import make_panel
from panelml.data.synthetic.design import DEFAULT_TARGETS
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.stages.fitting import fit_folds, oof_vector, plan_folds, target_rows
from panelml.stages.ranking import TargetRankingParams, TargetRankingStage
from panelml.stages.training import TrainingParams, TrainingStage
from panelml.validation.significance import fold_variance_factor
from panelml.validation.spec import ValidationConfig

CPCV = ValidationConfig(scheme="cpcv", n_splits=5, n_test_groups=2)  # 10 splits, 4 paths


@pytest.fixture(scope="module")
def panel() -> Any:
    synthetic = make_panel(
        n_symbols=20,
        n_timestamps=160,
        targets=DEFAULT_TARGETS[:2],
        leaks=False,
        n_noise_features=4,
        seed=1,
    )
    return synthetic.to_panel()


def _context(panel: Any, validation: ValidationConfig) -> RunContext:
    return RunContext(
        config=SimpleNamespace(validation=validation),
        data=panel,
        data_fingerprint="x",
        run_dir=Path("unused"),
        run_id="r",
        experiment="e",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        results={},
    )


def test_the_yaml_section_accepts_cpcv_and_refuses_too_many_test_groups(tmp_path: Path) -> None:
    config = {
        "experiment": {"name": "cpcv"},
        "data": {"path": "unused.parquet"},
        "validation": {"scheme": "cpcv", "n_splits": 6, "n_test_groups": 2},
        "pipeline": {"stages": ["training"]},
        "training": {"targets": ["fwd_ret_1"]},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded = api.load_config(path)
    assert (loaded.validation.scheme, loaded.validation.n_test_groups) == ("cpcv", 2)
    with pytest.raises(ValidationError, match="n_test_groups"):
        ValidationConfig(scheme="cpcv", n_splits=3, n_test_groups=3)


def test_every_row_is_tested_once_per_path(panel: Any) -> None:
    target = panel.target_names[0]
    rows = target_rows(panel, target)
    folds = plan_folds(panel, target, CPCV, rows)
    assert len(folds) == 10
    seen = np.zeros((4, panel.n_rows), dtype=np.int64)
    for fold in folds:
        assert fold.paths is not None and fold.groups is not None
        assert fold.paths.shape == fold.test.shape == fold.groups.shape
        assert np.unique(fold.groups).size == 2  # each split tests two groups
        assert not np.isin(fold.train, fold.test).any()
        np.add.at(seen, (fold.paths, fold.test), 1)
    tested = seen.sum(axis=0) > 0
    # a tested row is on every one of the 4 paths exactly once
    assert (seen[:, tested] == 1).all()


def test_oof_is_the_path_mean_and_kfold_oof_is_unchanged(panel: Any) -> None:
    from panelml.models import get_family

    target = panel.target_names[0]
    rows = target_rows(panel, target)
    ridge = get_family("ridge")
    prepared = ridge.prepare(panel.X)
    y = panel.targets[target]
    fits = fit_folds(
        ridge, "regression", None, prepared, y, plan_folds(panel, target, CPCV, rows), seed=0
    )
    by_row: dict[int, list[float]] = {}
    for fit in fits:
        for row, value in zip(fit.fold.test.tolist(), fit.predictions.tolist(), strict=True):
            by_row.setdefault(row, []).append(value)
    oof = oof_vector(panel.n_rows, fits)
    some = sorted(by_row)[::97]
    assert np.allclose(oof[some], [np.mean(by_row[r]) for r in some], rtol=0, atol=1e-12)
    kfold = plan_folds(panel, target, ValidationConfig(), rows)
    plain = fit_folds(ridge, "regression", None, prepared, y, kfold, seed=0)
    expected = np.full(panel.n_rows, np.nan)
    for fit in plain:
        expected[fit.fold.test] = fit.predictions
    assert np.array_equal(oof_vector(panel.n_rows, plain), expected, equal_nan=True)


def test_training_records_paths_and_ranking_reports_the_same_ic(panel: Any) -> None:
    ctx = _context(panel, CPCV)
    target = panel.target_names[0]
    result = TrainingStage(TrainingParams(targets=[target], families=["ridge"])).run(ctx)
    paths = result.tables[result.meta["path_tables"][target]]
    oof = result.tables[result.meta["oof_tables"][target]]
    assert sorted(paths["path"].unique().to_list()) == [0, 1, 2, 3]
    assert paths.height == 4 * oof.height
    mean = paths.group_by("symbol", "timestamp").agg(pl.col("ridge").mean())
    joined = mean.join(oof, on=["symbol", "timestamp"], suffix="_oof")
    assert joined.height == oof.height
    assert (joined["ridge"] - joined["ridge_oof"]).abs().max() < 1e-12
    metrics = result.tables["metrics"].filter(pl.col("family") == "ridge")
    assert sorted(metrics["fold"].to_list()) == [-1, 0, 1, 2, 3, 4]  # one row per test group
    summary = metrics.filter(pl.col("fold") == -1).row(0, named=True)
    assert result.meta["validation"]["scheme"] == "cpcv"

    ranking = TargetRankingStage(
        TargetRankingParams(families=["ridge"], targets=[target], min_timestamps=30)
    ).run(ctx)
    row = ranking.ranking.row(0, named=True)
    assert row["score"] == pytest.approx(summary["ic_mean"], abs=1e-9)
    assert row["t_stat"] == pytest.approx(summary["t_stat"], rel=1e-6)


def test_a_stage_can_override_the_scheme_with_cpcv(panel: Any) -> None:
    stage = TargetRankingStage(TargetRankingParams(scheme="cpcv"))
    validation = stage.validation(_context(panel, ValidationConfig(n_splits=4)))
    assert (validation.scheme, validation.n_splits) == ("cpcv", 4)


def test_cpcv_gets_the_kfold_variance_factor() -> None:
    for families in ((), ("ridge",), ("lightgbm",), ("lightgbm", "ridge")):
        assert fold_variance_factor("cpcv", families) == fold_variance_factor(
            "purged_kfold", families
        )

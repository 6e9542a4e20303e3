"""The ``training`` stage: honest folds, planted signal recovered, saved models, caching."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
import yaml

from panelml import api, contracts
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import ConfigError, UserError
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.registry import stages
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.stages.fitting import target_rows
from panelml.stages.training import TrainingParams, TrainingResult, TrainingStage
from panelml.stages.training._fit import plan_unit
from panelml.validation import ValidationConfig, ic_series
from panelml.validation.ranks import rank_average

SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.20, "linear", (2, 3, 4)),
    TargetSpec("fwd_noise_3", 3, 0.0, "none"),
    TargetSpec("y_up_5", 5, 0.15, "linear", (3, 0), kind="binary"),
)
FAST_LGB = {"n_estimators": 60, "learning_rate": 0.1}


def write_config(folder: Path, **training: Any) -> Path:
    config = {
        "experiment": {"name": "train"},
        "data": {"path": "unused.parquet"},
        "pipeline": {"stages": ["training"]},
        "runtime": {
            "output_dir": str(folder / "runs"),
            "cache_dir": str(folder / "cache"),
            "deterministic": True,
            "quiet": True,
        },
        "training": training,
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def synthetic() -> SyntheticPanel:
    return make_panel(n_symbols=60, n_timestamps=400, targets=SPECS, leaks=False, seed=0)


@pytest.fixture(scope="module")
def trained(
    synthetic: SyntheticPanel, tmp_path_factory: pytest.TempPathFactory
) -> tuple[api.RunResult, Path]:
    folder = tmp_path_factory.mktemp("training")
    config = write_config(folder, targets=["fwd_*", "y_up_5"], family_params={"lightgbm": FAST_LGB})
    return api.run(config, data=synthetic.to_panel(), quiet=True), config


def result_of(run: api.RunResult) -> TrainingResult:
    result = run.results["training"]
    assert isinstance(result, TrainingResult)
    return result


def nw_se(values: npt.NDArray[np.float64], lag: int) -> float:
    """Newey-West (Bartlett) standard error of the mean."""
    d = values - values.mean()
    n = d.size
    var = float(d @ d) / n
    for k in range(1, lag + 1):
        var += 2.0 * (1.0 - k / (lag + 1.0)) * float(d[k:] @ d[:-k]) / n
    return math.sqrt(max(var, 0.0) / n)


def ic_and_se(oof: pl.DataFrame, column: str) -> tuple[float, float]:
    """Mean rank IC of an OOF column and its standard error.

    The s.e. is Newey-West with lag 20, not horizon - 1: the planted features are
    AR(1) with persistence 0.90-0.97, so daily ICs stay correlated well beyond the
    label overlap and a lag of h - 1 would understate the sampling error.
    """
    keep = oof[column].is_not_null()
    frame = oof.filter(keep)
    series = ic_series(
        frame[column].to_numpy(), frame["target"].to_numpy(), frame["timestamp"].to_physical()
    )
    return float(series.values.mean()), nw_se(series.values, 20)


# -- registration and params ------------------------------------------------------------
def test_registered_with_its_inputs() -> None:
    assert stages.get("training") is TrainingStage
    inputs = TrainingStage(TrainingParams()).inputs()
    assert [(i.kind, i.optional) for i in inputs] == [
        (contracts.EXCLUSIONS, True),
        (contracts.FEATURE_CHOICE, True),
        (contracts.TARGET_CHOICE, False),  # required unless training.targets names them
    ]
    assert "training.targets" in (inputs[-1].instead or "")
    named = TrainingStage(TrainingParams(targets=["fwd_*"])).inputs()
    assert [(i.kind, i.optional) for i in named] == [
        (contracts.EXCLUSIONS, True),
        (contracts.FEATURE_CHOICE, True),
    ]
    assert "validation" in TrainingStage.config_sections
    params = TrainingParams()
    assert params.families == ["lightgbm", "ridge"]
    assert params.scope == "pooled"
    assert params.min_rows_per_symbol == 250


def test_params_reject_family_params_for_unlisted_family(tmp_path: Path) -> None:
    config = write_config(tmp_path, targets=["fwd_ret_5"], family_params={"xgboost": {}})
    with pytest.raises(ConfigError, match="xgboost"):
        api.load_config(config)


# -- the folds the stage used are purged --------------------------------------------------
def expand(segments: list[list[int]]) -> npt.NDArray[np.int64]:
    if not segments:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([np.arange(a, b + 1) for a, b in segments])


def test_recorded_folds_respect_purge_embargo_and_early_stopping_gap(
    trained: tuple[api.RunResult, Path], synthetic: SyntheticPanel
) -> None:
    result = result_of(trained[0])
    embargo = result.meta["validation"]["embargo"]
    assert embargo == math.floor(0.01 * 400)
    for target in result.targets():
        h = synthetic.truth.targets[target].horizon
        folds = result.meta["folds"][target][""]
        assert len(folds) == 5
        tested = np.concatenate([expand(f["test"]) for f in folds])
        assert np.unique(tested).size == tested.size  # every timestamp tested at most once
        for fold in folds:
            train, fit, val, test = (expand(fold[k]) for k in ("train", "fit", "val", "test"))
            assert set(fit) <= set(train) and set(val) <= set(train)
            assert not set(train) & set(test)
            # early stopping block: strictly after every fitted label window + embargo
            assert val.size and val.min() >= fit.max() + h + embargo
            # test rows outside every training label's window (AFML purge + embargo):
            # a training label before the test must end by the test (t + h <= s);
            # after the test, training starts h + e bars after the test ends.
            s = test[:, None]
            t = train[None, :]
            assert np.all((t + h <= s) | (t >= s + h + embargo))


def test_walk_forward_trains_only_on_the_past(synthetic: SyntheticPanel) -> None:
    panel = synthetic.to_panel()
    rows = target_rows(panel, "fwd_ret_5")
    validation = ValidationConfig(scheme="walk_forward", n_splits=3, embargo=2)
    folds = plan_unit(
        panel, "fwd_ret_5", validation, rows, early_stopping=True, early_stopping_fraction=0.2
    )
    codes = panel.timestamp_index
    for fold in folds:
        assert fold.val is not None
        assert codes[fold.train].max() + 5 + 2 <= codes[fold.test].min()
        assert codes[fold.val].min() >= codes[fold.fit].max() + 5 + 2


# -- metrics are honest -----------------------------------------------------------------
def test_planted_target_ic_matches_its_strength(
    trained: tuple[api.RunResult, Path], synthetic: SyntheticPanel
) -> None:
    """OOF rank IC within max(0.05, 3 s.e.) of the planted expected rank IC.

    The s.e. (NW, lag 20) covers sampling error of the mean IC over ~395 timestamps;
    the 0.05 floor covers estimation loss of models fitted on ~19k rows.
    """
    oof = result_of(trained[0]).oof("fwd_ret_5")
    expected = synthetic.truth.targets["fwd_ret_5"].expected_rank_ic
    for column in ("ridge", "ensemble"):
        ic, se = ic_and_se(oof, column)
        tolerance = max(0.05, 3 * se)
        assert abs(ic - expected) < tolerance, (column, ic, expected, tolerance)
    lgb_ic, lgb_se = ic_and_se(oof, "lightgbm")
    assert lgb_ic > 3 * lgb_se  # the tree model finds the signal too


def test_noise_target_ic_is_near_zero(trained: tuple[api.RunResult, Path]) -> None:
    oof = result_of(trained[0]).oof("fwd_noise_3")
    for column in ("lightgbm", "ridge", "ensemble"):
        ic, se = ic_and_se(oof, column)
        assert abs(ic) < 3 * se, (column, ic, se)


def test_metrics_table_contract_and_no_placeholders(trained: tuple[api.RunResult, Path]) -> None:
    metrics = result_of(trained[0]).metrics
    assert metrics.columns[:14] == [
        "target", "family", "fold", "ic_mean", "icir", "t_stat", "t_stat_nw", "r2", "auc",
        "log_loss", "hit_rate", "best_iteration", "n_train", "n_test",
    ]  # fmt: skip
    for target in ("fwd_ret_5", "fwd_noise_3", "y_up_5"):
        for family in ("lightgbm", "ridge", "ensemble"):
            rows = metrics.filter((pl.col("target") == target) & (pl.col("family") == family))
            assert sorted(rows["fold"].to_list()) == [-1, 0, 1, 2, 3, 4]
            folds = rows.filter(pl.col("fold") >= 0)
            summary = rows.filter(pl.col("fold") == -1).row(0, named=True)
            assert folds["n_test"].sum() == summary["n_test"]
            assert summary["ic_mean"] is not None and summary["ic_mean"] != 0.0
    regression = metrics.filter(pl.col("target") == "fwd_ret_5")
    families = regression.filter(pl.col("family") != "ensemble")
    assert families["r2"].null_count() == 0
    assert families["auc"].null_count() == families.height
    assert regression.filter(pl.col("family") == "ensemble")["r2"].null_count() == 6
    binary = metrics.filter((pl.col("target") == "y_up_5") & (pl.col("family") != "ensemble"))
    assert binary["auc"].null_count() == 0 and binary["log_loss"].null_count() == 0
    assert (binary.filter(pl.col("fold") == -1)["auc"] > 0.5).all()
    lgb = metrics.filter((pl.col("family") == "lightgbm") & (pl.col("fold") >= 0))
    assert lgb["best_iteration"].null_count() == 0
    ridge = metrics.filter(pl.col("family") == "ridge")
    assert ridge["best_iteration"].null_count() == ridge.height


def test_final_rounds_are_the_median_of_fold_best_iterations(
    trained: tuple[api.RunResult, Path],
) -> None:
    run = trained[0]
    metrics = result_of(run).metrics
    for target in ("fwd_ret_5", "y_up_5"):
        rows = metrics.filter((pl.col("target") == target) & (pl.col("family") == "lightgbm"))
        best = rows.filter(pl.col("fold") >= 0)["best_iteration"].to_numpy()
        median = max(1, math.floor(float(np.median(best)) + 0.5))
        meta = json.loads((run.run_dir / "models" / target / "lightgbm" / "meta.json").read_text())
        assert meta["n_rounds"] == median
        assert meta["family_params"]["n_estimators"] == median
        assert rows.filter(pl.col("fold") == -1)["best_iteration"].item() == median


# -- OOF, ensemble, importances ---------------------------------------------------------
def test_oof_table_and_export(trained: tuple[api.RunResult, Path]) -> None:
    run = trained[0]
    oof = result_of(run).oof("fwd_ret_5")
    assert oof.columns[:6] == ["symbol", "timestamp", "target", "lightgbm", "ridge", "ensemble"]
    assert oof.schema["symbol"] == pl.String
    assert isinstance(oof.schema["timestamp"], pl.Datetime)
    assert oof["lightgbm"].null_count() == 0 and oof["ensemble"].null_count() == 0
    groups = oof["timestamp"].to_physical().to_numpy()
    expected = rank_average([oof["lightgbm"].to_numpy(), oof["ridge"].to_numpy()], groups)
    np.testing.assert_allclose(oof["ensemble"].to_numpy(), expected)
    exported = pl.read_parquet(run.run_dir / "training" / "oof" / "fwd_ret_5.parquet")
    assert exported.equals(oof)


def test_importances_normalised_and_ranked(trained: tuple[api.RunResult, Path]) -> None:
    importances = result_of(trained[0]).importances
    assert importances.columns == ["target", "family", "feature", "importance", "rank"]
    for (_, _), group in importances.group_by(["target", "family"]):
        assert group["importance"].sum() == pytest.approx(1.0)
        ordered = group.sort("rank")
        assert ordered["rank"].to_list() == list(range(1, group.height + 1))
        assert ordered["importance"].is_sorted(descending=True)


def test_saved_models_and_meta(
    trained: tuple[api.RunResult, Path], synthetic: SyntheticPanel
) -> None:
    run = trained[0]
    folder = run.run_dir / "models" / "fwd_ret_5" / "ridge"
    meta = json.loads((folder / "meta.json").read_text())
    panel = synthetic.to_panel()
    assert meta["features"] == list(panel.feature_names)
    assert meta["target"] == "fwd_ret_5" and meta["horizon"] == 5 and meta["kind"] == "regression"
    assert meta["family"] == "ridge" and meta["scope"] == "pooled"
    assert meta["data_fingerprint"] == panel.fingerprint
    assert {"panelml", "numpy", "lightgbm"} <= set(meta["versions"])
    assert meta["cv"]["ic_mean"] > 0.1 and meta["seed"] == 42
    assert (folder / "family.json").is_file()
    assert (run.run_dir / "models" / "fwd_ret_5" / "lightgbm" / "model.txt").is_file()
    assert not [p for p in run.run_dir.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]


def test_second_run_is_cached_and_exports_the_same_models(
    trained: tuple[api.RunResult, Path], synthetic: SyntheticPanel
) -> None:
    first, config = trained
    again = api.run(config, data=synthetic.to_panel(), quiet=True)
    assert [s["status"] for s in again.manifest["stages"]] == ["cached"]
    for path in (first.run_dir / "models").rglob("*"):
        if path.is_file():
            copy = again.run_dir / path.relative_to(first.run_dir)
            assert copy.read_bytes() == path.read_bytes()
    assert (again.run_dir / "training" / "oof" / "y_up_5.parquet").is_file()
    loaded = result_of(again)
    assert loaded.fingerprint() == result_of(first).fingerprint()
    frame = synthetic.frame.head(600)
    assert loaded.run_models().predict(frame).equals(result_of(first).run_models().predict(frame))


# -- which targets and features ---------------------------------------------------------
def _selection_table(features: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"feature": features, "rank": list(range(1, len(features) + 1)), "selected": True}
    )


class FakeSelection(TableResult):
    """A third-party-like FeatureChoice: only the documented per-target tables."""

    provides: ClassVar[tuple[str, ...]] = (contracts.FEATURE_CHOICE,)

    def __init__(self) -> None:
        super().__init__({"fwd_ret_5": _selection_table(["feat_03", "feat_01"])})


class FakeRanking(TableResult):
    """A TargetChoice: the documented ``ranking`` table, nothing else."""

    provides: ClassVar[tuple[str, ...]] = (contracts.TARGET_CHOICE,)

    def __init__(self, selected: list[str]) -> None:
        ranking = pl.DataFrame(
            {
                "target": [*selected, "fwd_vol_5"],
                "rank": list(range(1, len(selected) + 2)),
                "status": [*(["selected"] * len(selected)), "not_significant"],
            }
        )
        super().__init__({"ranking": ranking})


class FakeScreen(TableResult):
    """An Exclusions result: the documented ``report`` table."""

    provides: ClassVar[tuple[str, ...]] = (contracts.EXCLUSIONS,)

    def __init__(self) -> None:
        report = pl.DataFrame(
            {
                "feature": ["feat_00", "feat_02"],
                "target": ["fwd_ret_5", "fwd_ret_5"],
                "check": ["name_rule", "too_good"],
                "action": ["removed", "warned"],
            }
        )
        super().__init__({"report": report})


def context(synthetic: SyntheticPanel, tmp_path: Path, **results: Any) -> RunContext:
    config = api.load_config(write_config(tmp_path, targets=["fwd_ret_5"]))
    return RunContext(
        config=config,
        data=synthetic.to_panel(),
        data_fingerprint="x",
        run_dir=tmp_path / "run",
        run_id="r",
        experiment="e",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        results=dict(results),
    )


def test_targets_and_features_come_from_earlier_stages(
    synthetic: SyntheticPanel, tmp_path: Path
) -> None:
    stage = TrainingStage(TrainingParams())
    ctx = context(
        synthetic,
        tmp_path,
        feature_selection=FakeSelection(),
        target_ranking=FakeRanking(["y_up_5"]),
        leakage_screen=FakeScreen(),
    )
    assert stage.targets(ctx) == (["fwd_ret_5"], "feature_selection")
    assert stage.resolve_features(ctx, "fwd_ret_5")[0] == ["feat_03", "feat_01"]
    features, _ = stage.resolve_features(ctx, "y_up_5")  # not covered by the selection
    assert features == list(synthetic.to_panel().feature_names)
    del ctx.results["feature_selection"]
    assert stage.targets(ctx) == (["y_up_5"], "target_ranking")
    kept = stage.resolve_features(ctx, "fwd_ret_5")[0]
    assert "feat_00" not in kept and "feat_02" in kept


def test_skip_when_nothing_selected_and_error_without_a_source(
    synthetic: SyntheticPanel, tmp_path: Path
) -> None:
    stage = TrainingStage(TrainingParams())
    ctx = context(synthetic, tmp_path, target_ranking=FakeRanking([]))
    assert "no targets to train" in (stage.skip(ctx) or "")
    bare = context(synthetic, tmp_path)
    assert stage.skip(bare) is None
    with pytest.raises(UserError, match=r"training\.targets"):
        stage.run(bare)
    named = TrainingStage(TrainingParams(targets=["fwd_ret_50"]))
    with pytest.raises(UserError, match="fwd_ret_50"):
        named.targets(bare)
    unknown = TrainingStage(TrainingParams(targets=["fwd_ret_5"], families=["lightgbn"]))
    with pytest.raises(UserError, match="did you mean 'lightgbm'"):
        unknown.run(bare)


# -- per-symbol scope -------------------------------------------------------------------
def test_per_symbol_models_skip_short_symbols(tmp_path: Path) -> None:
    synthetic = make_panel(
        n_symbols=5, n_timestamps=300, targets=SPECS[:1], leaks=False, n_noise_features=4, seed=3
    )
    cutoff = synthetic.frame["timestamp"].unique().sort()[150]
    frame = synthetic.frame.filter((pl.col("symbol") != "S004") | (pl.col("timestamp") >= cutoff))
    panel = SyntheticPanel(frame, synthetic.truth).to_panel()
    config = write_config(
        tmp_path,
        targets=["fwd_ret_5"],
        scope="per_symbol",
        min_rows_per_symbol=200,
        family_params={"lightgbm": {"n_estimators": 30}},
    )
    run = api.run(config, data=panel, quiet=True)
    result = result_of(run)
    skipped = result.meta["skipped_symbols"]["fwd_ret_5"]
    assert list(skipped) == ["S004"] and "min_rows_per_symbol=200" in skipped["S004"]
    folder = run.run_dir / "models" / "fwd_ret_5" / "lightgbm"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["scope"] == "per_symbol" and meta["skipped_symbols"] == skipped
    assert sorted(meta["symbols"]) == ["S000", "S001", "S002", "S003"]
    for symbol in meta["symbols"]:
        sub = json.loads((folder / symbol / "meta.json").read_text())
        assert sub["symbol"] == symbol and (folder / symbol / "model.txt").is_file()
    oof = result.oof("fwd_ret_5")
    assert "S004" not in oof["symbol"].to_list()
    assert set(result.meta["folds"]["fwd_ret_5"]) == {"S000", "S001", "S002", "S003"}
    scores = result.run_models().predict(panel.to_frame())
    mask = scores["symbol"] == "S004"
    assert scores.filter(mask)["fwd_ret_5__ridge"].null_count() == int(mask.sum())
    assert scores.filter(~mask)["fwd_ret_5__lightgbm"].null_count() == 0

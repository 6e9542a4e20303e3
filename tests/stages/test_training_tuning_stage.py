"""``training.tuning`` through the training stage: honesty of the outer folds, the files
in the run folder, resume across runs, meta.json, config errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from panelml import api
from panelml.data.panel import Panel
from panelml.data.synthetic import TargetSpec, make_panel
from panelml.models.base import ModelFamily, PreparedData
from panelml.models.registry import models, register_model
from panelml.stages.fitting import target_rows
from panelml.stages.training import TrainingParams
from panelml.stages.training._fit import plan_unit
from panelml.stages.training._tuning import TuningJob
from panelml.validation import ValidationConfig

SPEC = TargetSpec("fwd_ret_3", 3, 0.3, "linear", (0, 1))


class TuningSpy(ModelFamily):
    """Least squares on the features plus ``noise`` x seeded noise; records, per study
    slot (set by the test around ``TuningJob.run``), every row it fits, stops on or scores."""

    name: ClassVar[str] = "tuning_spy"
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[dict[str, Any]] = {"noise": 0.0}
    slot: ClassVar[str | None] = None
    fitted: ClassVar[dict[str | None, set[int]]] = {}
    scored: ClassVar[dict[str | None, list[bytes]]] = {}
    n_fits: ClassVar[dict[str | None, int]] = {}
    interrupt_at: ClassVar[tuple[str, int] | None] = None

    def fit(self, X: Any, y: Any, **kw: Any) -> Self:
        self._check_fit_inputs(X, y)
        coef, *_ = np.linalg.lstsq(np.nan_to_num(X.astype(np.float64)), y, rcond=None)
        self.coef_ = coef
        self.best_iteration = 5
        return self

    def fit_prepared(
        self, data: PreparedData, rows: Any, y: Any, *, eval_rows: Any = None, **kw: Any
    ) -> Self:
        TuningSpy.n_fits[TuningSpy.slot] = TuningSpy.n_fits.get(TuningSpy.slot, 0) + 1
        if TuningSpy.interrupt_at == (TuningSpy.slot, TuningSpy.n_fits[TuningSpy.slot]):
            raise KeyboardInterrupt
        seen = TuningSpy.fitted.setdefault(TuningSpy.slot, set())
        seen.update(int(r) for r in rows)
        if eval_rows is not None:
            seen.update(int(r) for r in eval_rows)
        return self.fit(data.X[rows], y[rows])

    def predict(self, X: Any) -> npt.NDArray[np.float64]:
        TuningSpy.scored.setdefault(TuningSpy.slot, []).extend(row.tobytes() for row in X)
        base = np.nan_to_num(X.astype(np.float64)) @ self.coef_
        noise = np.random.default_rng(X.shape[0]).standard_normal(X.shape[0])
        return np.asarray(base + float(self.params["noise"]) * noise, dtype=np.float64)

    def importance(self, kind: str | None = None, *, X: Any = None) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._write_meta(directory, coef=[float(c) for c in self.coef_])

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, meta = cls._read_meta(directory)
        model.coef_ = np.asarray(meta["coef"])
        return model


if "tuning_spy" not in models.registered():
    register_model(TuningSpy)


@pytest.fixture(autouse=True)
def _spy_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    TuningSpy.slot, TuningSpy.fitted, TuningSpy.scored, TuningSpy.n_fits = None, {}, {}, {}
    TuningSpy.interrupt_at = None
    original = TuningJob.run

    def tagged(self: TuningJob, slot: int | str, rows: Any, unit: str = "") -> Any:
        TuningSpy.slot = f"fold{slot}" if isinstance(slot, int) else str(slot)
        try:
            return original(self, slot, rows, unit)
        finally:
            TuningSpy.slot = None

    monkeypatch.setattr(TuningJob, "run", tagged)


@pytest.fixture(scope="module")
def panel() -> Panel:
    return make_panel(
        n_symbols=20,
        n_timestamps=120,
        n_signal_features=4,
        n_noise_features=2,
        n_groups=2,
        targets=[SPEC],
        leaks=False,
        seed=3,
    ).to_panel()


def config(folder: Path, n_trials: int = 3, **training: Any) -> dict[str, Any]:
    return {
        "experiment": {"name": "tune"},
        "data": {"path": "unused.parquet"},
        "pipeline": {"stages": ["training"]},
        "validation": {"n_splits": 3, "embargo": 2},
        "runtime": {
            "output_dir": str(folder / "runs"),
            "cache_dir": str(folder / "cache"),
            "deterministic": True,
            "quiet": True,
        },
        "training": {
            "targets": ["fwd_ret_3"],
            "families": ["tuning_spy"],
            "tuning": {
                "tuning_spy": {
                    "n_trials": n_trials,
                    "inner_splits": 2,
                    "space": {"noise": {"float": [0.0, 5.0]}},
                }
            },
            **training,
        },
    }


def test_outer_test_rows_are_never_seen_while_tuning_and_the_run_records_it(
    panel: Panel, tmp_path: Path
) -> None:
    """For every outer fold k, the rows the family was fitted, stopped or scored on in
    study ``fold<k>`` (all trials) never include fold k's test rows. A stage that
    tuned once on all rows before cross-validating (the common leak) would put
    every outer test row into study rows: the intersection would hold ~1/3 of
    the 2,400 rows, so this cannot pass by chance."""
    run = api.run(config(tmp_path), data=panel, quiet=True)
    index = {panel.X[i].tobytes(): i for i in range(panel.n_rows)}
    rows = target_rows(panel, "fwd_ret_3")
    folds = plan_unit(
        panel,
        "fwd_ret_3",
        ValidationConfig(n_splits=3, embargo=2),
        rows,
        early_stopping=True,
        early_stopping_fraction=0.2,
    )
    assert len(folds) == 3
    for fold in folds:
        slot = f"fold{fold.index}"
        scored = {index[b] for b in TuningSpy.scored[slot]}
        seen = TuningSpy.fitted[slot] | scored
        assert len(seen) > 0.8 * fold.train.size
        assert not seen & set(fold.test.tolist())
        assert seen <= set(fold.train.tolist())
    # the final model's study uses every row (it has no outer test block)
    assert len(TuningSpy.fitted["final"]) > 0.8 * rows.size
    # outer fits still score their own test blocks (the OOF table is full)
    oof = run.results["training"].tables["oof_fwd_ret_3"]  # type: ignore[attr-defined]
    assert oof.height == sum(f.test.size for f in folds)
    # the run folder: studies, one row per trial per study, the chosen params in meta.json
    folder = run.run_dir / "training" / "tuning" / "fwd_ret_3"
    assert (folder / "tuning_spy.db").is_file()
    trials = pl.read_parquet(folder / "tuning_spy.parquet")
    # one row per trial per study: 3 outer folds + the final model, 3 trials each
    assert trials.height == 4 * 3
    assert sorted(set(trials["fold"].to_list())) == [-1, 0, 1, 2]
    meta = json.loads(
        (run.run_dir / "models" / "fwd_ret_3" / "tuning_spy" / "meta.json").read_text()
    )
    chosen = meta["tuning"]["params"]
    assert set(chosen) == {"noise"} and meta["family_params"]["noise"] == chosen["noise"]
    final = trials.filter((pl.col("fold") == -1) & (pl.col("state") == "COMPLETE"))
    best = final.sort("value", descending=True).row(0, named=True)
    assert json.loads(best["params"]) == chosen
    assert set(meta["tuning"]["fold_params"]) == {"0", "1", "2"}


def test_an_interrupted_run_resumes_its_studies(panel: Panel, tmp_path: Path) -> None:
    """Ctrl-C inside the second trial of study ``fold1``; rerunning the same config (a
    new run folder) copies the interrupted run's studies and fits only what is
    missing: nothing for ``fold0`` (finished), two trials for ``fold1``, all three
    for ``fold2`` and ``final``. A restart would refit ``fold0`` (6 fits) and all
    three ``fold1`` trials, so the fit counts tell resume from restart."""
    TuningSpy.interrupt_at = ("fold1", 3)  # the 3rd fit of fold1: trial 1's first inner fold
    with pytest.raises(KeyboardInterrupt):
        api.run(config(tmp_path), data=panel, quiet=True)
    interrupted = sorted((tmp_path / "runs" / "tune").iterdir())
    assert len(interrupted) == 1
    study = interrupted[0] / "training" / "tuning" / "fwd_ret_3" / "tuning_spy.db"
    assert study.is_file()
    TuningSpy.interrupt_at, TuningSpy.n_fits = None, {}
    second = api.run(config(tmp_path), data=panel, quiet=True)
    assert second.run_dir != interrupted[0]
    fits = {k: v for k, v in TuningSpy.n_fits.items() if k is not None}
    assert fits == {"fold1": 2 * 2, "fold2": 3 * 2, "final": 3 * 2}
    trials = pl.read_parquet(
        second.run_dir / "training" / "tuning" / "fwd_ret_3" / "tuning_spy.parquet"
    )
    states = trials.group_by("fold").agg(pl.col("state").sort_by("trial")).sort("fold")
    assert states.rows() == [
        (-1, ["COMPLETE"] * 3),
        (0, ["COMPLETE"] * 3),
        (1, ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]),
        (2, ["COMPLETE"] * 3),
    ]


@pytest.mark.parametrize(
    "tuning, message",
    [
        ({"lightgbn": {}}, "did you mean 'lightgbm'"),
        ({"xgboost": {}}, "which is not in families"),
        ({"ridge": {}}, "give training.tuning.ridge.space"),
        ({"lightgbm": {"n_trials": 0}}, "n_trials"),
    ],
)
def test_tuning_config_errors(tuning: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingParams.model_validate({"families": ["lightgbm", "ridge"], "tuning": tuning})

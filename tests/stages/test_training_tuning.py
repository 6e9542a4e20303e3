"""Nested Optuna tuning (``panelml.stages.training._tuning``): honesty, pruning, resume,
determinism, config checks.

The panels are tiny numpy arrays (no Panel): the engine works on row indices, a
label vector and per-row timestamp codes, exactly what the training stage hands it.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pydantic
import pytest

from panelml.models.base import ModelFamily, PreparedData
from panelml.models.registry import available_families, get_family
from panelml.pipeline.errors import UserError
from panelml.stages.training._tuning import TuningJob, inner_folds, load_optuna
from panelml.stages.training._tuning_space import DEFAULT_SPACES, TuningSpec, resolve_space
from panelml.validation.splitters import PurgedKFold

FloatArray = npt.NDArray[np.float64]
T, N = 80, 20


def toy_data(seed: int = 0) -> tuple[npt.NDArray[np.float32], FloatArray, npt.NDArray[np.int64]]:
    """Column 0 is the row id (so a model's input rows can be identified); the label
    is column 1 plus noise."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(T), N).astype(np.int64)
    X = rng.standard_normal((T * N, 3)).astype(np.float32)
    X[:, 0] = np.arange(T * N)
    y = X[:, 1].astype(np.float64) + rng.standard_normal(T * N)
    return X, y, codes


class Spy(ModelFamily):
    """Predicts column 1 plus ``noise`` times seeded noise; records every row it is
    fitted, stopped or scored on (through the row id in column 0)."""

    name: ClassVar[str] = "spy"
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[dict[str, Any]] = {"noise": 0.0}
    seen: ClassVar[set[int]] = set()
    calls: ClassVar[int] = 0
    stop_after: ClassVar[int | None] = None

    def fit(self, X: Any, y: Any, **kw: Any) -> Self:
        raise AssertionError("tuning must use fit_prepared (bin-once reuse)")

    def fit_prepared(
        self,
        data: PreparedData,
        rows: Any,
        y: Any,
        *,
        eval_rows: Any = None,
        sample_weight: Any = None,
        seed: int = 0,
    ) -> Self:
        type(self).calls += 1
        if type(self).stop_after is not None and type(self).calls > type(self).stop_after:
            raise KeyboardInterrupt
        type(self).seen.update(int(r) for r in rows)
        if eval_rows is not None:
            type(self).seen.update(int(r) for r in eval_rows)
        self.best_iteration = 7
        self.seed = seed
        return self

    def predict(self, X: Any) -> npt.NDArray[np.float64]:
        type(self).seen.update(int(r) for r in X[:, 0])
        noise = np.random.default_rng(int(X[0, 0])).standard_normal(X.shape[0])
        return np.asarray(X[:, 1] + float(self.params["noise"]) * noise, dtype=np.float64)

    def importance(self, kind: str | None = None, *, X: Any = None) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def save(self, directory: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path) -> Self:
        raise NotImplementedError


SPY_SPACE = {"noise": {"float": [0.0, 30.0]}}


def spy_job(
    *,
    n_trials: int = 6,
    storage: Path | None = None,
    pruner: str = "median",
    seed: Callable[[str, str], int] = lambda slot, role: 11,
    data: tuple[Any, Any, Any] | None = None,
) -> TuningJob:
    X, y, codes = data if data is not None else toy_data()
    spec = TuningSpec.model_validate({"n_trials": n_trials, "pruner": pruner, "space": SPY_SPACE})
    return TuningJob(
        family=Spy,
        family_name="spy",
        task="regression",
        base_params={},
        spec=spec,
        space=resolve_space("spy", spec),
        prepared=Spy.prepare(X),
        y=y,
        codes=codes,
        horizon=3,
        embargo=2,
        scheme="purged_kfold",
        early_stopping=True,
        early_stopping_fraction=0.2,
        min_names=5,
        seed=seed,
        storage_path=storage,
        warn=lambda message: None,
    )


@pytest.fixture(autouse=True)
def _reset_spy() -> None:
    Spy.seen, Spy.calls, Spy.stop_after = set(), 0, None


def test_no_outer_test_row_is_seen_while_tuning() -> None:
    """Every row the spy is fitted, stopped or scored on, over all trials of the study
    of outer fold k, lies in fold k's training rows: never in its test block, and
    never in the purge/embargo gap. A tuner that planned inner folds on all rows
    (the classic leak) puts every test row into some inner fold, so the
    intersection would hold ~T/5*N = 320 rows: the test cannot miss it."""
    _, _, codes = toy_data()
    outer = PurgedKFold(n_splits=4, horizon=3, embargo=2).timestamp_splits(T)
    for k, (train_ts, test_ts) in enumerate(outer):
        Spy.seen = set()
        train_rows = np.flatnonzero(np.isin(codes, train_ts)).astype(np.int64)
        test_rows = set(np.flatnonzero(np.isin(codes, test_ts)).tolist())
        outcome = spy_job(n_trials=5).run(k, train_rows)
        assert len(outcome.records) == 5
        assert Spy.seen, "the spy saw no rows: the check would be empty"
        assert not Spy.seen & test_rows
        assert Spy.seen <= set(train_rows.tolist())
        # the study used most of the training rows (inner folds tile them)
        assert len(Spy.seen) > 0.8 * train_rows.size


def test_inner_folds_are_purged_within_the_given_rows() -> None:
    _, _, codes = toy_data()
    rows = np.flatnonzero((codes < 30) | (codes >= 45)).astype(np.int64)  # a gap, as an outer fold
    folds = inner_folds(
        rows,
        codes,
        horizon=3,
        embargo=2,
        n_splits=3,
        scheme="purged_kfold",
        early_stopping=True,
        early_stopping_fraction=0.2,
    )
    assert len(folds) == 3
    for fold in folds:
        assert fold.val is not None
        for part in (fold.fit, fold.val, fold.test):
            assert set(part.tolist()) <= set(rows.tolist())
        fit_ts, val_ts, test_ts = (np.unique(codes[p]) for p in (fold.fit, fold.val, fold.test))
        assert not set(fit_ts) & set(test_ts) and not set(val_ts) & set(test_ts)
        # early stopping block after every fit row's label window plus the embargo
        assert fit_ts.max() + 3 + 2 <= val_ts.min()
        # purge: no fit label (t, t+3] overlaps the test block's timestamps
        before = fit_ts[fit_ts < test_ts.min()]
        assert before.size == 0 or before.max() + 3 <= test_ts.min()


def test_median_pruner_stops_bad_trials_early() -> None:
    """Noise up to 30x the signal makes most trials far worse than the best: after three
    finished trials, the median pruner stops such trials after their first inner fold.
    Without pruning every trial scores all 3 inner folds, so ``n_inner_scored < 3``
    never happens and the assertion fails."""
    outcome = spy_job(n_trials=12).run(0, np.arange(T * N, dtype=np.int64))
    pruned = [r for r in outcome.records if r["state"] == "PRUNED"]
    assert pruned and all(r["n_inner_scored"] < 3 for r in pruned)
    unpruned = spy_job(n_trials=12, pruner="none").run(0, np.arange(T * N, dtype=np.int64))
    assert all(r["state"] == "COMPLETE" for r in unpruned.records)
    # the best trial has little noise: tuning found the good region
    assert unpruned.params["noise"] < 10.0


def test_same_seed_same_trials_and_outcomes() -> None:
    rows = np.arange(T * N, dtype=np.int64)
    a = spy_job(n_trials=8).run(0, rows).records
    b = spy_job(n_trials=8).run(0, rows).records
    strip = [{k: v for k, v in r.items() if k != "duration_s"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "duration_s"} for r in b]
    c = spy_job(n_trials=8, seed=lambda slot, role: 12).run(0, rows).records
    assert [r["params"] for r in c] != [r["params"] for r in a]


def test_interrupted_study_resumes_instead_of_restarting(tmp_path: Path) -> None:
    """Stop the run inside trial 4 (KeyboardInterrupt, as Ctrl-C); a rerun on the same
    SQLite file keeps the 3 finished trials and adds only the missing ones."""
    db = tmp_path / "tuning" / "y" / "spy.db"
    rows = np.arange(T * N, dtype=np.int64)
    Spy.stop_after = 3 * 3  # 3 trials x 3 inner folds, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        spy_job(n_trials=6, storage=db, pruner="none").run(0, rows)
    first = load_optuna().load_study(study_name="pooled/fold0", storage=f"sqlite:///{db}")
    finished = [t.params for t in first.trials if t.state.name == "COMPLETE"]
    assert len(finished) == 3
    Spy.stop_after, Spy.calls = None, 0
    outcome = spy_job(n_trials=6, storage=db, pruner="none").run(0, rows)
    complete = [r for r in outcome.records if r["state"] == "COMPLETE"]
    assert len(complete) == 6 and outcome.n_new == 3
    assert Spy.calls == 3 * 3  # only the missing trials were fitted
    assert [json.loads(r["params"]) for r in complete[:3]] == finished
    # the rerun's new trials are not copies of the first ones (sampler reseeded)
    assert all(json.loads(r["params"]) not in finished for r in complete[3:])
    # a finished study is not rerun; one made for other data starts afresh
    assert spy_job(n_trials=6, storage=db, pruner="none").run(0, rows).n_new == 0
    other = spy_job(n_trials=2, storage=db, pruner="none", data=toy_data(seed=1)).run(0, rows)
    assert other.n_new == 2 and len(other.records) == 2


def test_missing_optuna_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(UserError, match=r"panelml\[optuna\]"):
        load_optuna()


@pytest.mark.parametrize(
    "space, message",
    [
        ({"a": {"int": [5, 1]}}, "low must be below high"),
        ({"a": {"float": [0.0, 1.0], "log": True}}, "log: true needs low > 0"),
        ({"a": {"int": [1, 5], "float": [1.0, 2.0]}}, "exactly one of"),
        ({"a": {"categorical": []}}, "at least one choice"),
        ({"max_bin": {"int": [63, 255]}}, "binning params"),
        ({"a": {"floats": [1, 2]}}, "Extra inputs"),
    ],
)
def test_space_syntax_errors(space: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        TuningSpec.model_validate({"space": space})


def test_no_default_space_says_how_to_fix() -> None:
    with pytest.raises(ValueError, match=r"give training.tuning.ridge.space"):
        resolve_space("ridge", TuningSpec())


@pytest.mark.parametrize("family", sorted(DEFAULT_SPACES))
def test_default_spaces_are_accepted_by_their_family(family: str) -> None:
    """Both corners of every default space fit (families registered in this install only)."""
    if family not in available_families():
        pytest.skip(f"family {family!r} is not installed here")
    cls = get_family(family)
    space = DEFAULT_SPACES[family]
    for corner in (0, 1):
        params: dict[str, Any] = {}
        for name, rng in space.items():
            if rng.categorical is not None:
                params[name] = rng.categorical[corner - 1]
            elif rng.int_range is not None:
                params[name] = rng.int_range[corner]
            else:
                params[name] = rng.float_range[corner] if rng.float_range else 0.0
        try:
            if "n_estimators" in cls.defaults_for("regression"):
                params["n_estimators"] = 5
            if "device" in cls.defaults_for("regression"):
                params["device"] = "cpu"
            cls.check_params("regression", params)
        except ImportError:
            pytest.skip(f"the library behind {family!r} is not installed")


def test_params_the_family_rejects_name_the_tuning_space() -> None:
    """A space the family cannot take (ridge's alpha on a binary target; here negative
    lightgbm leaves) stops with a user error pointing at the space."""
    X, y, codes = toy_data()
    spec = TuningSpec.model_validate({"n_trials": 2, "space": {"num_leaves": {"int": [-5, -2]}}})
    family = get_family("lightgbm")
    job = TuningJob(
        family=family,
        family_name="lightgbm",
        task="regression",
        base_params={"n_estimators": 5, "num_threads": 1},
        spec=spec,
        space=resolve_space("lightgbm", spec),
        prepared=family.prepare(X, {}),
        y=y,
        codes=codes,
        horizon=1,
        embargo=0,
        scheme="purged_kfold",
        early_stopping=True,
        early_stopping_fraction=0.2,
        min_names=5,
        seed=lambda slot, role: 0,
        warn=lambda message: None,
    )
    with pytest.raises(UserError, match=r"fix training.tuning.lightgbm.space"):
        job.run(0, np.arange(T * N, dtype=np.int64))

"""Conformance test kit for model families (for plugin authors and the built-ins).

Two ways to use it. As one call, in any test:

    from panelml.testing import check_model_family

    def test_my_family(tmp_path):
        check_model_family(MyFamily, task="regression", tmp_path=tmp_path)

Or as a pytest base class, which gives one test per property (so a failure
names what is wrong):

    from panelml.testing import ModelFamilyConformance

    class TestMyFamily(ModelFamilyConformance):
        family = MyFamily
        params = {"n_estimators": 20}     # optional: faster params for tests
        tasks = ("regression",)           # optional: the tasks it supports

What it proves, on small synthetic data (2,000 rows x 10 features, a few NaN):
the family resolves by its name; ``fit`` with a seed returns the model and
``predict`` gives float64 of shape (n,); the model learns, judged on held-out
rows it was not fitted on (a family that memorises its rows fails); the same seed gives the same
predictions; ``save``/``load`` round-trips to identical predictions without
writing pickle; every declared importance kind is float64, shape
(n_features,), finite and non-negative; early stopping sets
``best_iteration`` when supported; ``fit_prepared`` equals ``fit`` (on data
whose bins do not depend on the rows, see :mod:`panelml.models.base`), also
after swapping labels on the same prepared data; ``fit_many`` equals one fit
per target; binary predictions are probabilities in [0, 1].

Failures are ``AssertionError`` with the family, task and property named.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from panelml.models.base import ModelFamily, Task
from panelml.models.registry import get_family
from panelml.pipeline.registry import RegistryError

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pck", ".dill"})
N_ROWS = 2_000
N_FEATURES = 10


def make_data(
    task: Task,
    *,
    n_rows: int = N_ROWS,
    n_features: int = N_FEATURES,
    seed: int = 0,
    discrete: bool = False,
    nan_fraction: float = 0.02,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """A small synthetic (X float32, y) with signal in the first three features.

    ``discrete=True`` draws every feature from 16 integer levels so that any
    large row subset holds every level: bin boundaries then do not depend on
    which rows are used, which makes a prepared fit comparable with a fresh one.
    """
    rng = np.random.default_rng(seed)
    if discrete:
        X = rng.integers(0, 16, size=(n_rows, n_features)).astype(np.float32)
        X = (X - 7.5) / 4.5
    else:
        X = rng.standard_normal((n_rows, n_features)).astype(np.float32)
    signal = 1.0 * X[:, 0] + 0.6 * X[:, 1] - 0.4 * X[:, 2] * X[:, 3 % n_features]
    noise = rng.standard_normal(n_rows)
    y = signal + 0.8 * noise
    if nan_fraction > 0:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    if task == "binary":
        return X, (y > np.median(y)).astype(np.float64)
    return X, y.astype(np.float64)


def _where(family_cls: type[ModelFamily], task: Task | None = None) -> str:
    name = getattr(family_cls, "name", family_cls.__qualname__)
    return f"model family {name!r}" + (f" ({task})" if task else "")


def _new(family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None) -> Any:
    return family_cls(task, dict(params or {}))


def _split(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Time-ordered split: the first 75% to fit, the rest to early-stop on."""
    cut = int(n * 0.75)
    return np.arange(cut, dtype=np.intp), np.arange(cut, n, dtype=np.intp)


# -- single checks ----------------------------------------------------------------
def check_registered(family_cls: type[ModelFamily]) -> None:
    """The family has a string ``name`` and ``get_family(name)`` returns it."""
    name = getattr(family_cls, "name", None)
    assert isinstance(name, str) and name, (
        f"{family_cls.__qualname__} needs a non-empty string class attribute 'name'"
    )
    try:
        found = get_family(name)
    except RegistryError as exc:
        raise AssertionError(
            f"{_where(family_cls)} is not registered: decorate it with @register_model "
            f"or expose it as a 'panelml.models' entry point ({exc})"
        ) from exc
    assert found is family_cls, (
        f"get_family({name!r}) returned {found!r}, not {family_cls!r}: is the name taken?"
    )
    assert isinstance(family_cls.importance_kinds, tuple), "importance_kinds must be a tuple"
    assert isinstance(family_cls.supports_early_stopping, bool)


def check_fit_predict(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """``fit`` returns the model; ``predict`` gives finite float64 of shape (n,); the
    model learns: on held-out rows (the last 25%, never fitted) its predictions
    follow the signal.

    Power: the held-out block has 500 rows. A family that does not learn (or only
    memorises its fit rows) has a held-out correlation of about N(0, 1/sqrt(500)),
    so it passes the 0.3 bar with probability below 1e-10 (z = 6.7); a linear fit
    reaches about 0.79 (the signal's linear part explains 63% of the variance). For
    binary targets the bar is a mean P(y=1) gap of 0.05 between held-out classes;
    with no skill the gap's sd is under 0.5 / sqrt(125) = 0.045 even for 0/1
    predictions, and the linear signal gives a gap above 0.3.
    """
    where = _where(family_cls, task)
    X, y = make_data(task)
    fit_rows, held_out = _split(X.shape[0])
    model = _new(family_cls, task, params)
    assert model.task == task, f"{where}: task not kept"
    fitted = model.fit(X[fit_rows], y[fit_rows], seed=1)
    assert fitted is model, f"{where}: fit must return self"
    pred = model.predict(X)
    assert isinstance(pred, np.ndarray), f"{where}: predict must give ndarray"
    assert pred.shape == (X.shape[0],), (
        f"{where}: predict gave shape {pred.shape}, want ({X.shape[0]},)"
    )
    assert pred.dtype == np.float64, f"{where}: predict gave {pred.dtype}"
    assert np.isfinite(pred).all(), f"{where}: non-finite predictions"
    assert np.std(pred) > 0, f"{where}: constant predictions on clear signal"
    p_out, y_out = pred[held_out], y[held_out]
    if task == "binary":
        assert ((pred >= 0.0) & (pred <= 1.0)).all(), (
            f"{where}: binary predictions must be P(y=1) in [0, 1]"
        )
        gap = p_out[y_out == 1].mean() - p_out[y_out == 0].mean()
        assert gap > 0.05, f"{where}: on held-out rows P(y=1) is not higher for y=1 (gap {gap:.3f})"
    else:
        corr = float(np.corrcoef(p_out, y_out)[0, 1])
        assert corr > 0.3, (
            f"{where}: predictions on held-out rows do not follow a clear signal "
            f"(correlation {corr:.3f})"
        )


def check_deterministic(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """The same seed gives identical predictions (with and without early stopping)."""
    X, y = make_data(task)
    fit_rows, eval_rows = _split(X.shape[0])
    for eval_set in (None, (X[eval_rows], y[eval_rows])):
        a = _new(family_cls, task, params).fit(X[fit_rows], y[fit_rows], eval_set=eval_set, seed=7)
        b = _new(family_cls, task, params).fit(X[fit_rows], y[fit_rows], eval_set=eval_set, seed=7)
        np.testing.assert_array_equal(
            a.predict(X), b.predict(X), err_msg=f"{_where(family_cls, task)}: not deterministic"
        )


def _assert_no_pickle(directory: Path, where: str) -> None:
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files, f"{where}: save wrote no files"
    for path in files:
        assert path.suffix.lower() not in PICKLE_SUFFIXES, f"{where}: save wrote pickle {path}"
        with path.open("rb") as fh:
            head = fh.read(2)
        # Pickle protocols 2+ start with the PROTO opcode 0x80 and the protocol number.
        assert not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5), (
            f"{where}: {path} is a pickle stream; save in the library's native format"
        )


def check_save_load(
    family_cls: type[ModelFamily],
    task: Task,
    tmp_path: Path,
    params: Mapping[str, Any] | None = None,
) -> None:
    """``load(save(model))`` predicts identically and nothing is pickled."""
    where = _where(family_cls, task)
    X, y = make_data(task)
    fit_rows, eval_rows = _split(X.shape[0])
    eval_set = (X[eval_rows], y[eval_rows]) if family_cls.supports_early_stopping else None
    model = _new(family_cls, task, params).fit(X[fit_rows], y[fit_rows], eval_set=eval_set, seed=3)
    directory = Path(tmp_path) / f"{family_cls.name}-{task}"
    model.save(directory)
    _assert_no_pickle(directory, where)
    loaded = family_cls.load(directory)
    assert isinstance(loaded, family_cls), f"{where}: load returned {type(loaded)!r}"
    assert loaded.task == task, f"{where}: load lost the task"
    assert loaded.best_iteration == model.best_iteration, f"{where}: load lost best_iteration"
    np.testing.assert_array_equal(
        loaded.predict(X), model.predict(X), err_msg=f"{where}: loaded predictions differ"
    )
    for kind in family_cls.importance_kinds:
        if kind != "shap":
            np.testing.assert_array_equal(
                loaded.importance(kind),
                model.importance(kind),
                err_msg=f"{where}: importance {kind!r} differs after load",
            )


def check_importances(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """Every declared kind: float64, (n_features,), finite, >= 0; the default is the
    first kind; unknown kinds (and any kind, when none is declared) raise."""
    where = _where(family_cls, task)
    X, y = make_data(task)
    model = _new(family_cls, task, params).fit(X, y, seed=2)
    sample = X[:300]
    for kind in family_cls.importance_kinds:
        imp = model.importance(kind, X=sample)
        assert isinstance(imp, np.ndarray), f"{where}: importance {kind!r} is not an ndarray"
        assert imp.shape == (X.shape[1],), f"{where}: importance {kind!r} shape {imp.shape}"
        assert imp.dtype == np.float64, f"{where}: importance {kind!r} dtype {imp.dtype}"
        assert np.isfinite(imp).all(), f"{where}: importance {kind!r} is not finite"
        assert (imp >= 0).all(), f"{where}: importance {kind!r} has negative values"
        assert imp.sum() > 0, f"{where}: importance {kind!r} is all zero on clear signal"
        assert imp[0] >= np.median(imp), f"{where}: importance {kind!r} misses the top feature"
    if family_cls.importance_kinds:
        first = family_cls.importance_kinds[0]
        np.testing.assert_array_equal(
            model.importance(None, X=sample),
            model.importance(first, X=sample),
            err_msg=f"{where}: the default importance kind must be the first declared",
        )
    with pytest.raises(ValueError):
        model.importance("no-such-kind", X=sample)


def check_early_stopping(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """With an eval set, families that support early stopping set a positive
    ``best_iteration``; without one it is None."""
    where = _where(family_cls, task)
    X, y = make_data(task)
    fit_rows, eval_rows = _split(X.shape[0])
    model = _new(family_cls, task, params)
    model.fit(X[fit_rows], y[fit_rows], eval_set=(X[eval_rows], y[eval_rows]), seed=0)
    if family_cls.supports_early_stopping:
        best = model.best_iteration
        assert isinstance(best, int) and best >= 1, f"{where}: best_iteration={best!r}"
    plain = _new(family_cls, task, params).fit(X[fit_rows], y[fit_rows], seed=0)
    assert plain.best_iteration is None, f"{where}: best_iteration set without an eval set"


def check_fit_prepared(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """``fit_prepared`` on a prepared matrix equals ``fit`` on the same rows (also
    for a second label vector on the same prepared data, and for unsorted rows)."""
    where = _where(family_cls, task)
    X, y1 = make_data(task, discrete=True, seed=4)
    y2 = _relabel(X, task, seed=5)
    fit_rows, eval_rows = _split(X.shape[0])
    prepared = family_cls.prepare(X, dict(family_cls.defaults_for(task), **(params or {})))
    use_eval = family_cls.supports_early_stopping
    for y in (y1, y2):
        fresh = _new(family_cls, task, params).fit(
            X[fit_rows],
            y[fit_rows],
            eval_set=(X[eval_rows], y[eval_rows]) if use_eval else None,
            seed=11,
        )
        reused = _new(family_cls, task, params).fit_prepared(
            prepared, fit_rows[::-1].copy(), y, eval_rows=eval_rows if use_eval else None, seed=11
        )
        assert reused.best_iteration == fresh.best_iteration, (
            f"{where}: fit_prepared best_iteration {reused.best_iteration} != "
            f"fit's {fresh.best_iteration}"
        )
        np.testing.assert_array_equal(
            reused.predict(X), fresh.predict(X), err_msg=f"{where}: fit_prepared != fit"
        )


def _relabel(X: npt.NDArray[np.float32], task: Task, seed: int) -> npt.NDArray[np.float64]:
    """A second target on the same features (for label-swap checks)."""
    rng = np.random.default_rng(seed)
    Xf = np.nan_to_num(X.astype(np.float64))
    y = -0.8 * Xf[:, 1] + 0.5 * Xf[:, 4 % X.shape[1]] + 0.8 * rng.standard_normal(X.shape[0])
    if task == "binary":
        return (y > np.median(y)).astype(np.float64)
    return y


def check_fit_many(
    family_cls: type[ModelFamily], task: Task, params: Mapping[str, Any] | None = None
) -> None:
    """``fit_many`` gives one model per target, equal to fitting each alone, and
    ``fit_many_prepared`` on rows equals ``fit_many`` on those rows."""
    where = _where(family_cls, task)
    X, y1 = make_data(task)
    Y = np.column_stack([y1, _relabel(X, task, seed=9)])
    many = family_cls.fit_many(X, Y, task=task, params=params, seed=5)
    assert len(many) == Y.shape[1], f"{where}: fit_many gave {len(many)} models for 2 targets"
    for j, model in enumerate(many):
        alone = _new(family_cls, task, params).fit(X, np.ascontiguousarray(Y[:, j]), seed=5)
        np.testing.assert_allclose(
            model.predict(X),
            alone.predict(X),
            rtol=1e-7,
            atol=1e-9,
            err_msg=f"{where}: fit_many target {j} differs from a single fit",
        )
    rows = np.arange(0, X.shape[0], 3)
    prepared = family_cls.prepare(X, params)
    on_rows = family_cls.fit_many_prepared(prepared, rows, Y, task=task, params=params, seed=5)
    subset = family_cls.fit_many(X[rows], Y[rows], task=task, params=params, seed=5)
    for j, (a, b) in enumerate(zip(on_rows, subset, strict=True)):
        np.testing.assert_allclose(
            a.predict(X),
            b.predict(X),
            rtol=1e-7,
            atol=1e-9,
            err_msg=f"{where}: fit_many_prepared target {j} differs from fit_many on the rows",
        )


def check_model_family(
    family_cls: type[ModelFamily],
    *,
    task: Task = "regression",
    tmp_path: Path,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Run every conformance check for one task (see the module docstring)."""
    check_registered(family_cls)
    check_fit_predict(family_cls, task, params)
    check_deterministic(family_cls, task, params)
    check_save_load(family_cls, task, tmp_path, params)
    check_importances(family_cls, task, params)
    check_early_stopping(family_cls, task, params)
    check_fit_prepared(family_cls, task, params)
    check_fit_many(family_cls, task, params)


class ModelFamilyConformance:
    """Subclass in a test module, set ``family`` (and optionally ``params`` and
    ``tasks``); pytest then runs one test per property and task."""

    family: ClassVar[type[ModelFamily]]
    params: ClassVar[Mapping[str, Any] | None] = None
    tasks: ClassVar[tuple[Task, ...]] = ("regression", "binary")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per declared task (undeclared tasks are not generated, not skipped)."""
        if "task" in metafunc.fixturenames:
            metafunc.parametrize("task", self.tasks)

    def test_registered(self) -> None:
        check_registered(self.family)

    def test_fit_predict(self, task: Task) -> None:
        check_fit_predict(self.family, task, self.params)

    def test_deterministic(self, task: Task) -> None:
        check_deterministic(self.family, task, self.params)

    def test_save_load(self, task: Task, tmp_path: Path) -> None:
        check_save_load(self.family, task, tmp_path, self.params)

    def test_importances(self, task: Task) -> None:
        check_importances(self.family, task, self.params)

    def test_early_stopping(self, task: Task) -> None:
        check_early_stopping(self.family, task, self.params)

    def test_fit_prepared(self, task: Task) -> None:
        check_fit_prepared(self.family, task, self.params)

    def test_fit_many(self, task: Task) -> None:
        check_fit_many(self.family, task, self.params)

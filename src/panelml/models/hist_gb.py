"""scikit-learn histogram gradient boosting (family name ``hist_gb``).

Params (YAML ``params:``) are passed straight to
``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``, except
``early_stopping_rounds`` (default 20), which panelml maps to
``n_iter_no_change`` when an ``eval_set`` is given, and ``n_threads`` (default
unset: all cores), the OpenMP threads used to fit and predict (scikit-learn
has no such parameter; panelml applies it with threadpoolctl). Fast defaults: ``max_iter``
200, ``learning_rate`` 0.05, ``max_leaf_nodes`` 31, ``min_samples_leaf`` 50,
``max_features`` 0.8. ``random_state`` is set from the fit seed.

Early stopping: with an ``eval_set`` the model stops when the eval loss has not
improved for ``early_stopping_rounds`` iterations (scikit-learn's
``X_val``/``y_val``); without one it fits ``max_iter`` iterations (scikit-learn's
own internal split is switched off, so no training rows are held out).
``best_iteration`` is the number of iterations the model keeps
(``n_iter_``); unlike LightGBM/XGBoost, scikit-learn keeps the final
non-improving iterations too.

NaN is handled natively. There is no built-in importance
(``importance_kinds`` is empty and :meth:`importance` raises): use permutation
importance, which works for every family. Saved with skops (``model.skops``,
no pickle) plus ``family.json``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.models._sklearn import dump_skops, load_skops, param_errors, positive_proba
from panelml.models.base import (
    FloatArray,
    ModelError,
    ModelFamily,
    Task,
    as_float64,
    rejected_params,
    thread_count,
)
from panelml.models.registry import register_model

MODEL_FILE = "model.skops"
OWN_KEYS = ("early_stopping_rounds", "n_threads")


@contextmanager
def _threads(n_threads: Any) -> Iterator[None]:
    """Limit OpenMP threads while scikit-learn works (no-op when unset)."""
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=int(n_threads), user_api="openmp"):
        yield


@register_model
class HistGBFamily(ModelFamily):
    """scikit-learn HistGradientBoosting; see the module docstring."""

    name: ClassVar[str] = "hist_gb"
    importance_kinds: ClassVar[tuple[str, ...]] = ()
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[Mapping[str, Any]] = {
        "max_iter": 200,
        "learning_rate": 0.05,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 50,
        "max_features": 0.8,
        "early_stopping_rounds": 20,
    }

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        self._estimator: Any = None

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``n_threads`` from ``n_jobs`` (scikit-learn's OpenMP thread count)."""
        return {"n_threads": thread_count(n_jobs)}

    def fit(
        self,
        X: FloatArray,
        y: FloatArray,
        *,
        sample_weight: FloatArray | None = None,
        eval_set: tuple[FloatArray, FloatArray] | None = None,
        seed: int = 0,
    ) -> Self:
        from sklearn import ensemble

        self._check_fit_inputs(X, y, sample_weight)
        params = {k: v for k, v in self.params.items() if k not in OWN_KEYS}
        stop_rounds = int(self.params.get("early_stopping_rounds", 20))
        cls = (
            ensemble.HistGradientBoostingRegressor
            if self.task == "regression"
            else ensemble.HistGradientBoostingClassifier
        )
        if eval_set is None:
            with rejected_params(self.name, *param_errors()):
                estimator = cls(**{**params, "early_stopping": False, "random_state": seed})
            with (
                _threads(self.params.get("n_threads")),
                rejected_params(self.name, *param_errors()[:1]),
            ):
                estimator.fit(X, y, sample_weight=sample_weight)
            self.best_iteration = None
        else:
            Xe, ye = eval_set
            with rejected_params(self.name, *param_errors()):
                estimator = cls(
                    **{
                        **params,
                        "early_stopping": True,
                        "n_iter_no_change": stop_rounds,
                        "random_state": seed,
                    }
                )
            with (
                _threads(self.params.get("n_threads")),
                rejected_params(self.name, *param_errors()[:1]),
            ):
                estimator.fit(X, y, sample_weight=sample_weight, X_val=Xe, y_val=ye)
            self.best_iteration = int(estimator.n_iter_)
        self._estimator = estimator
        return self

    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        with _threads(self.params.get("n_threads")):
            if self.task == "binary":
                return positive_proba(self._estimator, X)
            return as_float64(self._estimator.predict(X))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        self._resolve_kind(kind)  # always raises: no built-in importance
        raise ModelError("hist_gb has no built-in importance")  # pragma: no cover

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn estimator (for advanced use)."""
        return self._estimator

    def save(self, directory: Path) -> None:
        if self._estimator is None:
            raise ModelError("cannot save an unfitted hist_gb model")
        directory = Path(directory)
        self._write_meta(directory, model_file=MODEL_FILE)
        dump_skops(self._estimator, directory / MODEL_FILE)

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, _ = cls._read_meta(Path(directory))
        model._estimator = load_skops(Path(directory) / MODEL_FILE)
        return model

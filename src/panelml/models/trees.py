"""scikit-learn forests: ``random_forest`` and ``extra_trees``.

Params (YAML ``params:``) are passed straight to the scikit-learn estimator
(``RandomForestRegressor`` / ``RandomForestClassifier``, ``ExtraTreesRegressor``
/ ``ExtraTreesClassifier``). Fast defaults: 100 trees, ``min_samples_leaf`` 50
(noisy targets), ``max_features`` 0.3; random forest draws half the rows per
tree (``max_samples`` 0.5). ``n_jobs`` is left at scikit-learn's default (one
core); set it to use more. ``random_state`` is set from the fit seed.

NaN is imputed with the training column means (stored with the model) rather
than left to scikit-learn's own missing-value routing, so that every forest
sees the same inputs and prediction on new data fills gaps the same way.

Importance kind: ``impurity`` (mean decrease in impurity, normalised to sum
to 1). Saved with skops (``model.skops``, no pickle) plus ``family.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.models._sklearn import (
    column_means,
    dump_skops,
    impute,
    load_skops,
    param_errors,
    positive_proba,
)
from panelml.models.base import (
    FloatArray,
    ModelError,
    ModelFamily,
    Task,
    as_float64,
    rejected_params,
)
from panelml.models.registry import register_model

MODEL_FILE = "model.skops"


class ForestFamily(ModelFamily):
    """Shared implementation of the scikit-learn forests."""

    importance_kinds: ClassVar[tuple[str, ...]] = ("impurity",)
    supports_early_stopping: ClassVar[bool] = False
    regressor: ClassVar[str]
    classifier: ClassVar[str]

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        self._estimator: Any = None
        self.means_: npt.NDArray[np.float64] | None = None

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
        name = self.regressor if self.task == "regression" else self.classifier
        with rejected_params(self.name, *param_errors()):
            estimator = getattr(ensemble, name)(**{**self.params, "random_state": seed})
        self.means_ = column_means(X)
        with rejected_params(self.name, *param_errors()[:1]):
            estimator.fit(impute(X, self.means_), y, sample_weight=sample_weight)
        self._estimator = estimator
        return self

    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        assert self.means_ is not None
        Xi = impute(X, self.means_)
        if self.task == "binary":
            return positive_proba(self._estimator, Xi)
        return as_float64(self._estimator.predict(Xi))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        self._resolve_kind(kind)
        if self._estimator is None:
            raise ModelError(f"the {self.name} model is not fitted; call fit first")
        values = np.nan_to_num(as_float64(self._estimator.feature_importances_), nan=0.0)
        return np.abs(values)

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn estimator (for advanced use)."""
        return self._estimator

    def save(self, directory: Path) -> None:
        if self._estimator is None or self.means_ is None:
            raise ModelError(f"cannot save an unfitted {self.name} model")
        directory = Path(directory)
        self._write_meta(directory, model_file=MODEL_FILE, means=[float(v) for v in self.means_])
        dump_skops(self._estimator, directory / MODEL_FILE)

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, meta = cls._read_meta(Path(directory))
        model.means_ = np.asarray(meta["means"], dtype=np.float64)
        model._estimator = load_skops(Path(directory) / MODEL_FILE)
        return model


@register_model
class RandomForestFamily(ForestFamily):
    """Bagged CART trees (bootstrap rows, random feature subsets per split)."""

    name: ClassVar[str] = "random_forest"
    regressor: ClassVar[str] = "RandomForestRegressor"
    classifier: ClassVar[str] = "RandomForestClassifier"
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 100,
        "min_samples_leaf": 50,
        "max_features": 0.3,
        "max_samples": 0.5,
        "bootstrap": True,
    }


@register_model
class ExtraTreesFamily(ForestFamily):
    """Extremely randomised trees (random thresholds, all rows per tree)."""

    name: ClassVar[str] = "extra_trees"
    regressor: ClassVar[str] = "ExtraTreesRegressor"
    classifier: ClassVar[str] = "ExtraTreesClassifier"
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 100,
        "min_samples_leaf": 50,
        "max_features": 0.3,
        "bootstrap": False,
    }

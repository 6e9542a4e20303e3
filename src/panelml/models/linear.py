"""Penalised linear models: ``ridge``, ``lasso`` and ``elastic_net``.

Why these preprocess: penalties only make sense on comparable scales, and
linear models cannot take NaN. So every linear family

- imputes NaN with the training column means (all-NaN columns impute 0),
- standardises features with the training means and standard deviations
  (constant columns keep scale 1),
- for regression, also standardises the target, so ``alpha`` means the same
  for a target in percent or in basis points.

The means, scales and coefficients are stored with the model (JSON, floats
written with ``repr`` so they round-trip exactly); prediction is done by
panelml in float64 from them, so a loaded model predicts identically.

Params (YAML ``params:``) are passed straight to the scikit-learn estimator of
the task:

============  =========================================  ================================
family        regression (defaults)                      binary (defaults)
============  =========================================  ================================
ridge         ``Ridge`` (alpha=1.0)                      ``LogisticRegression`` (C=1.0,
                                                         l1_ratio=0, lbfgs, max_iter=1000)
lasso         ``Lasso`` (alpha=0.001, max_iter=2000)     ``LogisticRegression`` (C=1.0,
                                                         l1_ratio=1, saga, max_iter=1000)
elastic_net   ``ElasticNet`` (alpha=0.001, l1_ratio=0.5,  ``LogisticRegression`` (C=1.0,
              max_iter=2000)                             l1_ratio=0.5, saga, max_iter=1000)
============  =========================================  ================================

``random_state`` is set from the fit seed. Importance kind: ``coef`` =
|coefficient on the standardised features| (the effect of a one-standard-
deviation move, in target units for regression and log-odds for binary).

How ridge regression is solved: scikit-learn's ``Ridge`` (Cholesky) solves the
normal equations ``(Xc^T Xc + alpha I) w = Xc^T yc`` of the centred
standardised matrix. panelml sums those features x features products over row
chunks of the fit rows instead (imputing, centring and scaling each chunk) and
solves them with one Cholesky factorisation for every target of ``fit_many``:
the standardised float64 copy of the fit rows (1.5-3x a float32 panel, the
memory peak of target ranking) is never built. The means and scales equal the
materialised path's bit for bit; coefficients and intercepts equal
scikit-learn's up to floating-point rounding. Where that would not be the same
estimator (other params or solvers, ``positive``, no intercept, an ``alpha``
that is not a finite number > 0, sample weights, a failed factorisation) the
fit builds the standardised matrix and calls scikit-learn as before; so do
lasso, elastic net and every binary fit, where ``fit_many`` standardises once
and fits each target.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.models._ridge_normal import cholesky_alpha, ridge_normal_equations, standardised
from panelml.models._sklearn import param_errors
from panelml.models._standardise import fit_standardise, shape_of, standardise
from panelml.models.base import (
    FloatArray,
    IndexArray,
    ModelError,
    ModelFamily,
    PreparedData,
    Task,
    as_float64,
    check_rows,
    rejected_params,
)
from panelml.models.registry import register_model

COEF_FILE = "coefficients.json"


class LinearFamily(ModelFamily):
    """Shared implementation; subclasses name the estimators (see the module docstring)."""

    importance_kinds: ClassVar[tuple[str, ...]] = ("coef",)
    supports_early_stopping: ClassVar[bool] = False
    supports_fit_many: ClassVar[bool] = True
    regression_estimator: ClassVar[str]

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        self.means_: npt.NDArray[np.float64] | None = None
        self.scales_: npt.NDArray[np.float64] | None = None
        self.coef_: npt.NDArray[np.float64] | None = None
        self.intercept_: float = 0.0

    # -- estimators ---------------------------------------------------------------
    def _estimator(self, seed: int, overwrite: bool = False) -> Any:
        """The scikit-learn estimator; with ``overwrite``, a regression estimator
        may center the standardised matrix in place (``copy_X=False``: the same
        arithmetic without a copy of the matrix) unless the user set ``copy_X``."""
        from sklearn import linear_model

        cls = (
            getattr(linear_model, self.regression_estimator)
            if self.task == "regression"
            else linear_model.LogisticRegression
        )
        extra: dict[str, Any] = {"random_state": seed}
        if overwrite and self.task == "regression" and "copy_X" not in self.params:
            extra["copy_X"] = False
        with rejected_params(self.name, *param_errors()):
            return cls(**{**self.params, **extra})

    def _solve(
        self,
        Z: npt.NDArray[np.float64],
        y: FloatArray,
        weight: FloatArray | None,
        seed: int,
        overwrite: bool = False,
    ) -> tuple[npt.NDArray[np.float64], float]:
        """(coef, intercept) on standardised features, in target/log-odds units;
        ``overwrite``: ``Z`` is not needed afterwards (see :meth:`_estimator`)."""
        est = self._estimator(seed, overwrite)
        if self.task == "binary":
            with rejected_params(self.name, *param_errors()[:1]):
                est.fit(Z, y, sample_weight=weight)
            return as_float64(est.coef_).ravel(), float(np.ravel(est.intercept_)[0])
        y64 = np.asarray(y, dtype=np.float64)
        y_mean, y_scale = float(y64.mean()), float(y64.std())
        y_scale = y_scale if y_scale > 0 else 1.0
        with rejected_params(self.name, *param_errors()[:1]):
            est.fit(Z, (y64 - y_mean) / y_scale, sample_weight=weight)
        coef = as_float64(est.coef_).ravel() * y_scale
        return coef, y_mean + y_scale * float(np.ravel(est.intercept_)[0])

    # -- fit ----------------------------------------------------------------------
    def fit(
        self,
        X: FloatArray,
        y: FloatArray,
        *,
        sample_weight: FloatArray | None = None,
        eval_set: tuple[FloatArray, FloatArray] | None = None,
        seed: int = 0,
    ) -> Self:
        self._check_fit_inputs(X, y, sample_weight)
        self._fit_rows(X, None, y, sample_weight, seed)
        return self

    def fit_prepared(
        self,
        data: PreparedData,
        rows: IndexArray,
        y: FloatArray,
        *,
        eval_rows: IndexArray | None = None,
        sample_weight: FloatArray | None = None,
        seed: int = 0,
    ) -> Self:
        """:meth:`fit` on ``data.X[rows]``, reading the rows straight into the
        standardised float64 matrix (no early stopping: ``eval_rows`` is unused)."""
        picked = check_rows(rows, data.n_rows, "rows")
        weight = None if sample_weight is None else sample_weight[picked]
        self._check_fit_inputs(shape_of(data.X, picked), y[picked], weight)
        self._fit_rows(data.X, picked, y[picked], weight, seed)
        return self

    def _fit_rows(
        self,
        X: FloatArray,
        rows: npt.NDArray[np.intp] | None,
        y: FloatArray,
        weight: FloatArray | None,
        seed: int,
    ) -> None:
        """Fit on ``X[rows]`` (all rows when ``None``; ``y`` and ``weight`` are
        those rows', checked): ridge regression from the normal equations where
        they are scikit-learn's fit (:meth:`_normal_alpha`), otherwise the
        standardised matrix and scikit-learn."""
        solved = self._normal_solve(X, rows, np.asarray(y)[:, None], weight, seed)
        if solved is not None:
            self.means_, self.scales_, fits = solved
            self.coef_, self.intercept_ = fits[0]
            return
        Z, self.means_, self.scales_ = fit_standardise(X, rows)
        self.coef_, self.intercept_ = self._solve(Z, y, weight, seed, overwrite=True)

    def _normal_alpha(self, weight: FloatArray | None, seed: int) -> float | None:
        """``alpha`` when this fit is a ridge regression that the normal equations
        solve as scikit-learn would (see :class:`RidgeFamily`); ``None`` (here:
        always) to fit with scikit-learn."""
        return None

    @classmethod
    def fit_many(
        cls,
        X: FloatArray,
        Y: FloatArray,
        *,
        task: Task = "regression",
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> list[Self]:
        """Standardise once, then one fit per column of ``Y`` (ridge regression:
        a single multi-output solve). Equal to fitting each column alone."""
        return cls._fit_many_rows(X, None, Y, task, params, seed)

    @classmethod
    def _fit_many_rows(
        cls,
        X: FloatArray,
        rows: npt.NDArray[np.intp] | None,
        Y: FloatArray,
        task: Task,
        params: Mapping[str, Any] | None,
        seed: int,
    ) -> list[Self]:
        """:meth:`fit_many` on ``X[rows]`` (all rows when ``None``; ``Y`` holds the
        labels of those rows), the rows read straight into the standardised
        float64 matrix: what :meth:`fit_many_prepared` calls after its checks."""
        shape = shape_of(X, rows)
        if Y.ndim != 2 or Y.shape[0] != shape.shape[0]:
            raise ModelError(f"Y must be a (rows, targets) matrix with {shape.shape[0]} rows")
        fitted = [cls(task, params) for _ in range(Y.shape[1])]
        for j, model in enumerate(fitted):
            model._check_fit_inputs(shape, np.ascontiguousarray(Y[:, j]))
        solved = fitted[0]._normal_solve(X, rows, Y, None, seed) if fitted else None
        if solved is not None:
            means, scales, results = solved
        else:
            Z, means, scales = fit_standardise(X, rows)
            results = fitted[0]._solve_many(Z, Y, seed) if fitted else []
        for model, (coef, intercept) in zip(fitted, results, strict=True):
            model.means_, model.scales_ = means, scales
            model.coef_, model.intercept_ = coef, intercept
        return fitted

    def _normal_solve(
        self,
        X: FloatArray,
        rows: npt.NDArray[np.intp] | None,
        Y: FloatArray,
        weight: FloatArray | None,
        seed: int,
    ) -> (
        tuple[
            npt.NDArray[np.float64],
            npt.NDArray[np.float64],
            list[tuple[npt.NDArray[np.float64], float]],
        ]
        | None
    ):
        """(means, scales, (coef, intercept) per column of ``Y``) from one set of
        normal equations and one factorisation when :meth:`_normal_alpha` allows
        it; ``None`` when it does not or the solve fails. Targets are
        standardised and converted back as :meth:`_solve_many` does."""
        alpha = self._normal_alpha(weight, seed)
        if alpha is None:
            return None
        with np.errstate(all="ignore"):  # not finite: scikit-learn's path warns, raises
            Ys, y_mean, y_scale = standardised(Y)
            solved = ridge_normal_equations(X, rows, Ys, alpha)
        if solved is None:
            return None
        means, scales, coef, intercept = solved
        fits = [
            (coef[:, j] * y_scale[j], float(y_mean[j] + y_scale[j] * intercept[j]))
            for j in range(coef.shape[1])
        ]
        return means, scales, fits

    def _solve_many(
        self, Z: npt.NDArray[np.float64], Y: FloatArray, seed: int
    ) -> list[tuple[npt.NDArray[np.float64], float]]:
        return [
            self._solve(Z, np.ascontiguousarray(Y[:, j]), None, seed) for j in range(Y.shape[1])
        ]

    # -- use ----------------------------------------------------------------------
    def decision_function(self, X: FloatArray) -> npt.NDArray[np.float64]:
        """The linear score: the prediction (regression) or log-odds (binary)."""
        self._check_predict_input(X)
        assert self.means_ is not None and self.scales_ is not None and self.coef_ is not None
        return standardise(X, self.means_, self.scales_) @ self.coef_ + self.intercept_

    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        score = self.decision_function(X)
        if self.task == "binary":
            from scipy.special import expit

            return as_float64(expit(score))
        return as_float64(score)

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        self._resolve_kind(kind)
        if self.coef_ is None:
            raise ModelError(f"the {self.name} model is not fitted; call fit first")
        return np.abs(self.coef_)

    # -- persistence ----------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self.coef_ is None or self.means_ is None or self.scales_ is None:
            raise ModelError(f"cannot save an unfitted {self.name} model")
        directory = Path(directory)
        self._write_meta(directory, model_file=COEF_FILE)
        record = {
            "means": [float(v) for v in self.means_],
            "scales": [float(v) for v in self.scales_],
            "coef": [float(v) for v in self.coef_],
            "intercept": float(self.intercept_),
        }
        (directory / COEF_FILE).write_text(json.dumps(record))

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, _ = cls._read_meta(Path(directory))
        record = json.loads((Path(directory) / COEF_FILE).read_text())
        model.means_ = np.asarray(record["means"], dtype=np.float64)
        model.scales_ = np.asarray(record["scales"], dtype=np.float64)
        model.coef_ = np.asarray(record["coef"], dtype=np.float64)
        model.intercept_ = float(record["intercept"])
        return model


@register_model
class RidgeFamily(LinearFamily):
    """L2-penalised linear / logistic regression."""

    name: ClassVar[str] = "ridge"
    regression_estimator: ClassVar[str] = "Ridge"
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"alpha": 1.0},
        "binary": {"C": 1.0, "l1_ratio": 0.0, "solver": "lbfgs", "max_iter": 1000},
    }

    def _normal_alpha(self, weight: FloatArray | None, seed: int) -> float | None:
        """``alpha`` when ``Ridge`` with these params would fit by Cholesky on the
        standardised matrix, so the normal equations give its fit: regression,
        no sample weights, params among ``RIDGE_NORMAL_PARAMS`` with ``solver``
        auto or cholesky, ``fit_intercept`` true, ``positive`` false, ``alpha`` a
        finite number > 0, and every value one scikit-learn accepts (else its
        fit raises the error it always raised). ``None`` otherwise."""
        if self.task != "regression" or weight is not None:
            return None
        alpha = cholesky_alpha(self.params)
        if alpha is None:
            return None
        errors: tuple[type[BaseException], ...] = (ModelError, *param_errors())
        try:
            self._estimator(seed)._validate_params()
        except errors:
            return None
        return alpha

    def _solve_many(
        self, Z: npt.NDArray[np.float64], Y: FloatArray, seed: int
    ) -> list[tuple[npt.NDArray[np.float64], float]]:
        if self.task == "binary":
            return super()._solve_many(Z, Y, seed)
        Ys, y_mean, y_scale = standardised(Y)
        with rejected_params(self.name, *param_errors()[:1]):
            est = self._estimator(seed, overwrite=True).fit(Z, Ys)
        coef = np.atleast_2d(as_float64(est.coef_))
        intercept = np.ravel(as_float64(est.intercept_))
        return [
            (coef[j] * y_scale[j], float(y_mean[j] + y_scale[j] * intercept[j]))
            for j in range(Ys.shape[1])
        ]


@register_model
class LassoFamily(LinearFamily):
    """L1-penalised linear / logistic regression (sparse coefficients)."""

    name: ClassVar[str] = "lasso"
    regression_estimator: ClassVar[str] = "Lasso"
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"alpha": 0.001, "max_iter": 2000},
        "binary": {"C": 1.0, "l1_ratio": 1.0, "solver": "saga", "max_iter": 1000},
    }


@register_model
class ElasticNetFamily(LinearFamily):
    """Mixed L1/L2-penalised linear / logistic regression."""

    name: ClassVar[str] = "elastic_net"
    regression_estimator: ClassVar[str] = "ElasticNet"
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"alpha": 0.001, "l1_ratio": 0.5, "max_iter": 2000},
        "binary": {"C": 1.0, "l1_ratio": 0.5, "solver": "saga", "max_iter": 1000},
    }

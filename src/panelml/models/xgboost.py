"""XGBoost gradient-boosted trees (family name ``xgboost``; optional extra).

XGBoost is optional (``pip install 'panelml[xgboost]'``): the family is always
registered, and using it without the library raises an ImportError that says
how to install it. The library is imported on first use only.

Params (YAML ``params:``) are XGBoost's own keys, passed straight to
``xgboost.train`` (see https://xgboost.readthedocs.io/en/stable/parameter.html),
with two keys read by panelml: ``n_estimators`` (maximum rounds, default 200)
and ``early_stopping_rounds`` (used only with an ``eval_set``, default 20).

Defaults: ``tree_method`` hist, ``max_bin`` 256, ``learning_rate`` 0.05,
``max_depth`` 6, ``min_child_weight`` 1, ``subsample`` 1.0,
``colsample_bytree`` 0.8, ``verbosity`` 0; ``nthread`` unset (all cores; set
it to share); ``device`` ``cpu`` (``cuda`` or ``auto``: :mod:`panelml.models.devices`;
a GPU needs an XGBoost build with CUDA, not the ``xgboost-cpu`` wheel).
``objective`` defaults to ``reg:squarederror`` or ``binary:logistic``. The fit
``seed`` sets ``seed``.

NaN is handled natively. Importance kinds: ``gain`` (XGBoost ``total_gain``,
comparable with LightGBM's gain), ``split`` (XGBoost ``weight``: number of
splits), ``shap`` (mean |TreeSHAP contribution| over the rows passed as ``X``).

Saved in XGBoost's native UBJSON format (``model.ubj``, best iteration only)
plus ``family.json``.

Reuse: :meth:`XGBoostFamily.prepare` sketches quantile cuts on the full matrix
once (a ``QuantileDMatrix``); each distinct set of training rows is then binned
with those cuts (``QuantileDMatrix(X[rows], ref=full)``, no re-sketching) and
cached, so several targets on the same fold only swap labels.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.models.base import (
    FloatArray,
    IndexArray,
    ModelError,
    ModelFamily,
    PreparedData,
    Task,
    as_float64,
    rejected_params,
    thread_count,
)
from panelml.models.devices import nvidia_gpu_reason, resolve_device
from panelml.models.errors import optional_library
from panelml.models.registry import register_model

MODEL_FILE = "model.ubj"
OWN_KEYS = ("n_estimators", "num_boost_round", "early_stopping_rounds", "device")


def _xgb() -> Any:
    """The xgboost module, imported on first use; a clear error when it is missing."""
    return optional_library("xgboost", "xgboost", "XGBoost", "pip install 'panelml[xgboost]'")


def _gpu_reason() -> str | None:
    """``None`` when this XGBoost build can train on a GPU here, else why not."""
    if not _xgb().build_info().get("USE_CUDA"):
        return "this XGBoost build has no CUDA support (install 'xgboost', not 'xgboost-cpu')"
    return nvidia_gpu_reason()


def _digest(rows: npt.NDArray[np.intp]) -> str:
    return hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()


class XGBoostPrepared(PreparedData):
    """Quantile cuts of the full matrix, and a small cache of per-rows binned sets.

    ``cache_size`` bounds how many training row sets stay binned (each costs
    about one byte per value); the least recently used is dropped first.
    """

    def __init__(self, X: npt.NDArray[np.float32], max_bin: int, cache_size: int = 6) -> None:
        super().__init__(X)
        self.max_bin = max_bin
        self.cache_size = cache_size
        self.full = _xgb().QuantileDMatrix(X, max_bin=max_bin)
        self._cache: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()

    def train_matrix(
        self, rows: npt.NDArray[np.intp], y: FloatArray, weight: FloatArray | None
    ) -> Any:
        """A binned training matrix of ``rows`` labelled ``y[rows]`` (cached without weights)."""
        xgb = _xgb()
        label = np.ascontiguousarray(y[rows])
        if weight is not None:
            return xgb.QuantileDMatrix(
                self.X[rows], label=label, weight=weight[rows], ref=self.full, max_bin=self.max_bin
            )
        key = _digest(rows)
        entry = self._cache.get(key)
        if entry is None:
            dtrain = xgb.QuantileDMatrix(self.X[rows], ref=self.full, max_bin=self.max_bin)
            entry = (dtrain, {})
            self._cache[key] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        entry[0].set_label(label)
        return entry[0]

    def eval_matrix(self, dtrain: Any, rows: npt.NDArray[np.intp], y: FloatArray) -> Any:
        """A binned early-stopping matrix of ``rows``; XGBoost requires it to
        reference the training matrix (whose cuts are the full matrix's)."""
        label = np.ascontiguousarray(y[rows])
        evals: dict[str, Any] | None = None
        for cached, cached_evals in self._cache.values():
            if cached is dtrain:
                evals = cached_evals
        key = _digest(rows)
        deval = None if evals is None else evals.get(key)
        if deval is None:
            deval = _xgb().QuantileDMatrix(self.X[rows], ref=dtrain, max_bin=self.max_bin)
            if evals is not None:
                evals[key] = deval
        deval.set_label(label)
        return deval


@register_model
class XGBoostFamily(ModelFamily):
    """XGBoost boosted trees; see the module docstring for params and defaults."""

    name: ClassVar[str] = "xgboost"
    importance_kinds: ClassVar[tuple[str, ...]] = ("gain", "split", "shap")
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 200,
        "early_stopping_rounds": 20,
        "tree_method": "hist",
        "max_bin": 256,
        "learning_rate": 0.05,
        "max_depth": 6,
        "min_child_weight": 1.0,
        "subsample": 1.0,
        "colsample_bytree": 0.8,
        "verbosity": 0,
        "device": "cpu",
    }
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"objective": "reg:squarederror"},
        "binary": {"objective": "binary:logistic"},
    }

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        self._booster: Any = None

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``nthread`` from ``n_jobs`` (XGBoost's hist method is deterministic as is)."""
        return {"nthread": thread_count(n_jobs)}

    def _max_bin(self) -> int:
        return int(self.params.get("max_bin", 256))

    def _train_params(self, seed: int) -> tuple[dict[str, Any], int, int]:
        params = {k: v for k, v in self.params.items() if k not in OWN_KEYS}
        n_rounds = int(self.params.get("n_estimators", self.params.get("num_boost_round", 100)))
        stop_rounds = int(self.params.get("early_stopping_rounds", 20))
        params["seed"] = seed
        self.device_ = resolve_device(self.name, self.params.get("device", "cpu"), _gpu_reason)
        params["device"] = self.device_
        return params, n_rounds, stop_rounds

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
        xgb = _xgb()
        dtrain = xgb.QuantileDMatrix(X, label=y, weight=sample_weight, max_bin=self._max_bin())
        deval = None
        if eval_set is not None:
            Xe, ye = eval_set
            deval = xgb.QuantileDMatrix(Xe, label=ye, ref=dtrain, max_bin=self._max_bin())
        return self._train(dtrain, deval, seed)

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
        """Fit with the full matrix's cuts and cached binned rows; see the base class."""
        if not isinstance(data, XGBoostPrepared):
            return super().fit_prepared(
                data, rows, y, eval_rows=eval_rows, sample_weight=sample_weight, seed=seed
            )
        if data.max_bin != self._max_bin():
            raise ModelError(
                f"the data was prepared with max_bin={data.max_bin}, but this model uses "
                f"max_bin={self._max_bin()}; call prepare() with the model's params"
            )
        sorted_rows, sorted_eval = self._binned_rows(
            data.n_rows, data.n_features, rows, y, eval_rows
        )
        dtrain = data.train_matrix(sorted_rows, y, sample_weight)
        deval = None if sorted_eval is None else data.eval_matrix(dtrain, sorted_eval, y)
        return self._train(dtrain, deval, seed)

    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> XGBoostPrepared:
        """Sketch quantile cuts on ``X`` once (no labels are used)."""
        merged = {**cls.default_params, **(params or {})}
        return XGBoostPrepared(X, int(merged.get("max_bin", 256)))

    def _train(self, dtrain: Any, deval: Any | None, seed: int) -> Self:
        xgb = _xgb()
        params, n_rounds, stop_rounds = self._train_params(seed)
        if deval is None:
            with rejected_params(self.name, xgb.core.XGBoostError):
                booster = xgb.train(params, dtrain, num_boost_round=n_rounds, verbose_eval=False)
            self.best_iteration = None
        else:
            with rejected_params(self.name, xgb.core.XGBoostError):
                booster = xgb.train(
                    params,
                    dtrain,
                    num_boost_round=n_rounds,
                    evals=[(deval, "eval")],
                    early_stopping_rounds=stop_rounds,
                    verbose_eval=False,
                )
            n_best = int(booster.best_iteration) + 1
            self.best_iteration = n_best
            if n_best < booster.num_boosted_rounds():
                booster = booster[:n_best]
        self._booster = booster
        self.n_features_ = int(booster.num_features())
        return self

    # -- use ----------------------------------------------------------------------
    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        return as_float64(self._booster.inplace_predict(X))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        kind = self._resolve_kind(kind)
        if self._booster is None or self.n_features_ is None:
            raise ModelError("the xgboost model is not fitted; call fit first")
        n = self.n_features_
        if kind == "shap":
            if X is None:
                raise ModelError(
                    "importance kind 'shap' needs rows to explain: pass X=... (a sample)"
                )
            self._check_predict_input(X)
            contrib = self._booster.predict(_xgb().DMatrix(X), pred_contribs=True)
            return as_float64(np.abs(np.asarray(contrib, dtype=np.float64)[:, :n]).mean(axis=0))
        score = self._booster.get_score(
            importance_type="total_gain" if kind == "gain" else "weight"
        )
        out = np.zeros(n, dtype=np.float64)
        for j in range(n):
            out[j] = abs(float(score.get(f"f{j}", 0.0)))
        return out

    @property
    def booster(self) -> Any:
        """The fitted ``xgboost.Booster`` (for advanced use)."""
        return self._booster

    # -- persistence ----------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self._booster is None:
            raise ModelError("cannot save an unfitted xgboost model")
        directory = Path(directory)
        self._write_meta(directory, model_file=MODEL_FILE)
        self._booster.save_model(str(directory / MODEL_FILE))

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, _ = cls._read_meta(Path(directory))
        booster = _xgb().Booster()
        booster.load_model(str(Path(directory) / MODEL_FILE))
        model._booster = booster
        return model

"""CatBoost gradient-boosted oblivious trees (family name ``catboost``; optional extra).

CatBoost is optional (``pip install 'panelml[catboost]'``): the family is always
registered, and using it without the library raises an ImportError that says
how to install it. The library is imported on first use only.

Params (YAML ``params:``) are CatBoost's own keys, passed straight to
``catboost.CatBoost`` (see https://catboost.ai/docs/en/references/training-parameters/),
with three keys read by panelml:

- ``n_estimators`` (or ``iterations``, ``num_boost_round``, ``num_trees``): the
  maximum number of trees, default 200;
- ``early_stopping_rounds``: used only with an ``eval_set``, default 20 (the
  model keeps its best iteration);
- ``device``: ``cpu`` (default), ``cuda`` or ``auto`` (:mod:`panelml.models.devices`);
  ``cuda`` trains with CatBoost's ``task_type: GPU``.

Defaults: ``learning_rate`` 0.05, ``depth`` 6, ``l2_leaf_reg`` 3,
``border_count`` 254, ``thread_count`` -1 (all cores; the stages set it from
``runtime.n_jobs``), no files written by CatBoost. ``loss_function`` defaults to
``RMSE`` or ``Logloss``. The fit ``seed`` sets ``random_seed``.

NaN is handled natively (``nan_mode`` Min). Importance kinds:
``prediction_values_change`` (CatBoost's default importance: how much the
prediction moves when a feature's splits change) and ``shap`` (mean |SHAP value|
over the rows passed as ``X``, computed by CatBoost's own ``ShapValues``).

Saved in CatBoost's native binary format (``model.cbm``) plus ``family.json``.

Reuse: :meth:`CatBoostFamily.prepare` computes the quantization borders of the
full matrix once. CatBoost pools cannot swap labels, so each distinct label
vector gets one full quantized ``Pool`` built with those borders (cached); every
fold is then a ``Pool.slice`` of it (no re-quantization, no border search).
"""

from __future__ import annotations

import hashlib
import tempfile
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
from panelml.models.devices import resolve_device
from panelml.models.errors import optional_library
from panelml.models.registry import register_model

MODEL_FILE = "model.cbm"
N_ESTIMATORS_KEYS = ("n_estimators", "iterations", "num_boost_round", "num_trees")
OWN_KEYS = (*N_ESTIMATORS_KEYS, "early_stopping_rounds", "device")
QUANTIZE_KEYS = ("border_count", "max_bin", "feature_border_type", "nan_mode")


def _cb() -> Any:
    """The catboost module, imported on first use; a clear error when it is missing."""
    return optional_library("catboost", "catboost", "CatBoost", "pip install 'panelml[catboost]'")


def _gpu_reason() -> str | None:
    """``None`` when CatBoost sees a GPU, else why not."""
    try:
        count = int(_cb().utils.get_gpu_device_count())
    except Exception as exc:  # a CatBoost build without CUDA may raise instead of returning 0
        return f"CatBoost cannot query GPUs ({exc})"
    return None if count > 0 else "CatBoost finds no CUDA GPU"


def _quantize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in QUANTIZE_KEYS if k in params}


class CatBoostPrepared(PreparedData):
    """The full matrix's quantization borders (computed once), and a small cache of
    full quantized pools, one per label vector, that folds slice.

    ``cache_size`` bounds how many labelled pools are kept (each costs about one
    byte per value); the least recently used is dropped first.
    """

    def __init__(
        self, X: npt.NDArray[np.float32], quantize_params: dict[str, Any], cache_size: int = 2
    ) -> None:
        super().__init__(X)
        cb = _cb()
        self.quantize_params = quantize_params
        self.cache_size = cache_size
        self._tmp = tempfile.TemporaryDirectory(prefix="panelml-catboost-")
        self.borders = Path(self._tmp.name) / "borders.tsv"
        pool = cb.Pool(X)
        pool.quantize(**quantize_params)
        pool.save_quantization_borders(str(self.borders))
        self._cache: OrderedDict[str, Any] = OrderedDict()

    def pool(self, y: FloatArray) -> Any:
        """The full matrix quantized with the shared borders and labelled ``y``
        (rows with a NaN label get 0; they are never sliced for a fit)."""
        label = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0)
        key = hashlib.blake2b(label.tobytes(), digest_size=16).hexdigest()
        pool = self._cache.get(key)
        if pool is None:
            pool = _cb().Pool(self.X, label=label)
            pool.quantize(input_borders=str(self.borders))
            self._cache[key] = pool
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return pool


@register_model
class CatBoostFamily(ModelFamily):
    """CatBoost boosted trees; see the module docstring for params and defaults."""

    name: ClassVar[str] = "catboost"
    importance_kinds: ClassVar[tuple[str, ...]] = ("prediction_values_change", "shap")
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 200,
        "early_stopping_rounds": 20,
        "device": "cpu",
        "learning_rate": 0.05,
        "depth": 6,
        "l2_leaf_reg": 3.0,
        "border_count": 254,
        "thread_count": -1,
        "verbose": False,
        "allow_writing_files": False,
    }
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"loss_function": "RMSE"},
        "binary": {"loss_function": "Logloss"},
    }

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        if any(k in (params or {}) for k in N_ESTIMATORS_KEYS):
            for key in N_ESTIMATORS_KEYS:
                if key not in (params or {}):
                    self.params.pop(key, None)
        self._model: Any = None

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``thread_count`` from ``n_jobs`` (CatBoost on the CPU is deterministic for a
        fixed seed as is)."""
        return {"thread_count": thread_count(n_jobs)}

    def _train_params(self, seed: int) -> tuple[dict[str, Any], int]:
        """(CatBoost params, early-stopping rounds); resolves the device."""
        params = {k: v for k, v in self.params.items() if k not in OWN_KEYS}
        n_rounds = next((self.params[k] for k in N_ESTIMATORS_KEYS if k in self.params), 100)
        params["iterations"] = n_rounds
        params["random_seed"] = seed
        self.device_ = resolve_device(self.name, self.params.get("device", "cpu"), _gpu_reason)
        params["task_type"] = "GPU" if self.device_ == "cuda" else "CPU"
        return params, int(self.params.get("early_stopping_rounds", 20))

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
        cb = _cb()
        train = cb.Pool(X, label=y, weight=sample_weight)
        valid = None if eval_set is None else cb.Pool(eval_set[0], label=eval_set[1])
        return self._train(train, valid, seed)

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
        """Fit on slices of the quantized full matrix (no re-quantization); see the base."""
        if not isinstance(data, CatBoostPrepared) or sample_weight is not None:
            return super().fit_prepared(
                data, rows, y, eval_rows=eval_rows, sample_weight=sample_weight, seed=seed
            )
        wanted = _quantize_params(self.params)
        if wanted != data.quantize_params:
            raise ModelError(
                f"the data was prepared with quantization params {data.quantize_params}, but "
                f"this model uses {wanted}; call prepare() with the model's params"
            )
        sorted_rows, sorted_eval = self._binned_rows(
            data.n_rows, data.n_features, rows, y, eval_rows
        )
        full = data.pool(y)
        train = full.slice(sorted_rows)
        valid = None if sorted_eval is None else full.slice(sorted_eval)
        return self._train(train, valid, seed)

    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> CatBoostPrepared:
        """Compute the quantization borders of ``X`` once (no labels are used)."""
        merged = {**cls.default_params, **(params or {})}
        with rejected_params(cls.name, _cb().CatBoostError):
            return CatBoostPrepared(X, _quantize_params(merged))

    def _train(self, train: Any, valid: Any | None, seed: int) -> Self:
        cb = _cb()
        params, stop_rounds = self._train_params(seed)
        model = cb.CatBoost(params)
        with rejected_params(self.name, cb.CatBoostError):
            if valid is None:
                model.fit(train)
                self.best_iteration = None
            else:
                model.fit(
                    train, eval_set=valid, use_best_model=True, early_stopping_rounds=stop_rounds
                )
                self.best_iteration = int(model.tree_count_)
        self._model = model
        self.n_features_ = int(train.num_col())
        return self

    # -- use ----------------------------------------------------------------------
    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        if self.task == "binary":
            return as_float64(self._model.predict(X, prediction_type="Probability")[:, 1])
        return as_float64(self._model.predict(X, prediction_type="RawFormulaVal"))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        kind = self._resolve_kind(kind)
        if self._model is None or self.n_features_ is None:
            raise ModelError("the catboost model is not fitted; call fit first")
        if kind == "shap":
            if X is None:
                raise ModelError(
                    "importance kind 'shap' needs rows to explain: pass X=... (a sample)"
                )
            self._check_predict_input(X)
            values = self._model.get_feature_importance(data=_cb().Pool(X), type="ShapValues")
            shap = np.asarray(values, dtype=np.float64)[:, : self.n_features_]
            return as_float64(np.abs(shap).mean(axis=0))
        values = self._model.get_feature_importance(type="PredictionValuesChange")
        return np.abs(as_float64(values))

    @property
    def booster(self) -> Any:
        """The fitted ``catboost.CatBoost`` model (for advanced use)."""
        return self._model

    # -- persistence ----------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self._model is None:
            raise ModelError("cannot save an unfitted catboost model")
        directory = Path(directory)
        self._write_meta(directory, model_file=MODEL_FILE)
        self._model.save_model(str(directory / MODEL_FILE), format="cbm")

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, _ = cls._read_meta(Path(directory))
        booster = _cb().CatBoost()
        booster.load_model(str(Path(directory) / MODEL_FILE), format="cbm")
        model._model = booster
        return model

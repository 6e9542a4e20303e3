"""LightGBM gradient-boosted trees (family name ``lightgbm``).

Params (YAML ``params:``) are LightGBM's own keys, passed straight to
``lightgbm.train`` (see https://lightgbm.readthedocs.io/en/stable/Parameters.html),
with two keys read by panelml:

- ``n_estimators`` (or any LightGBM alias such as ``num_iterations``):
  the maximum number of trees, default 200;
- ``early_stopping_rounds`` (or ``early_stopping_round``, ``early_stopping``,
  ``n_iter_no_change``): used only when an ``eval_set`` is given, default 20.

Defaults are fast and robust for noisy panel targets: ``learning_rate`` 0.05,
``num_leaves`` 31, ``min_data_in_leaf`` 50, ``feature_fraction`` 0.8, bagging
off, ``force_col_wise`` (22% faster than row-wise here), ``verbosity`` -1,
``num_threads`` 0 (OpenMP's default; set it to share cores), and
``deterministic`` off (set ``deterministic: true`` for results stable across
thread counts). ``objective`` defaults to ``regression`` (L2) or ``binary``.

Binning keys (``max_bin``, ``min_data_in_bin``, ``bin_construct_sample_cnt``
[default 200,000], ``feature_pre_filter`` [default false so that one binned
matrix serves any ``min_data_in_leaf``], ``data_random_seed`` [fixed at 1 so
the fit seed never forces a re-bin], ...) go to the ``Dataset``.

NaN is handled natively. Importance kinds: ``gain`` (total split gain),
``split`` (number of splits), ``shap`` (mean |TreeSHAP contribution| over the
rows passed as ``X``; raw score units, log-odds for binary).

Saved as LightGBM's native text model (``model.txt``, best iteration only)
plus ``family.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix
from panelml.models._lightgbm_bins import binned_dataset
from panelml.models.base import (
    FloatArray,
    IndexArray,
    ModelError,
    ModelFamily,
    ModelParamsError,
    PreparedData,
    Task,
    as_float64,
    params_message,
    rejected_params,
    thread_count,
)
from panelml.models.registry import register_model

MODEL_FILE = "model.txt"

N_ESTIMATORS_KEYS = (
    "n_estimators",
    "num_iterations",
    "num_iteration",
    "n_iter",
    "num_tree",
    "num_trees",
    "num_round",
    "num_rounds",
    "nrounds",
    "num_boost_round",
    "max_iter",
)
EARLY_STOPPING_KEYS = (
    "early_stopping_rounds",
    "early_stopping_round",
    "early_stopping",
    "n_iter_no_change",
)
DATASET_KEYS = (
    "max_bin",
    "max_bin_by_feature",
    "min_data_in_bin",
    "bin_construct_sample_cnt",
    "data_random_seed",
    "feature_pre_filter",
    "use_missing",
    "zero_as_missing",
    "enable_bundle",
    "linear_tree",
    "verbosity",
)


def _lgb() -> Any:
    """The lightgbm module, imported on first use so that importing panelml stays cheap."""
    import lightgbm

    return lightgbm


def _pop_first(params: dict[str, Any], keys: tuple[str, ...], default: Any) -> Any:
    """Remove every alias in ``keys`` from ``params``; return the first one set."""
    value = default
    found = False
    for key in keys:
        if key in params:
            v = params.pop(key)
            if not found:
                value, found = v, True
    return value


def _positive_int(value: Any, key: str) -> int:
    """``value`` as a whole number >= 1, else a :class:`ModelParamsError` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ModelParamsError(params_message("lightgbm", ValueError(f"{key}={value!r}")))
    if value < 1:
        raise ModelParamsError(params_message("lightgbm", ValueError(f"{key}={value!r} < 1")))
    return int(value)


class LightGBMPrepared(PreparedData):
    """The full matrix binned once into a constructed ``lightgbm.Dataset``."""

    def __init__(self, X: FeatureMatrix, dataset_params: dict[str, Any]) -> None:
        super().__init__(X)
        self.dataset_params = dataset_params
        self.base = binned_dataset(X, dataset_params)

    def subset(self, rows: npt.NDArray[np.intp], y: FloatArray, weight: FloatArray | None) -> Any:
        """A constructed Dataset of ``rows`` (sharing the base bins) labelled ``y[rows]``."""
        label = np.ascontiguousarray(y[rows])
        sub = self.base.subset(rows)
        # LightGBM checks a label exists while constructing a subset but does not
        # copy a label set before construction into the new handle: set it twice.
        sub.set_label(label)
        sub.construct()
        sub.set_label(label)
        if weight is not None:
            sub.set_weight(np.ascontiguousarray(weight[rows]))
        return sub


@register_model
class LightGBMFamily(ModelFamily):
    """LightGBM boosted trees; see the module docstring for params and defaults."""

    name: ClassVar[str] = "lightgbm"
    importance_kinds: ClassVar[tuple[str, ...]] = ("gain", "split", "shap")
    supports_early_stopping: ClassVar[bool] = True
    default_params: ClassVar[Mapping[str, Any]] = {
        "n_estimators": 200,
        "early_stopping_rounds": 20,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "max_bin": 255,
        "bin_construct_sample_cnt": 200_000,
        "feature_pre_filter": False,
        "data_random_seed": 1,
        "force_col_wise": True,
        "deterministic": False,
        "num_threads": 0,
        "verbosity": -1,
    }
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "regression": {"objective": "regression"},
        "binary": {"objective": "binary"},
    }

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        # A user alias (``num_iterations: 500``) replaces the default's main key.
        for group in (N_ESTIMATORS_KEYS, EARLY_STOPPING_KEYS):
            if any(k in (params or {}) for k in group):
                for key in group:
                    if key not in (params or {}):
                        self.params.pop(key, None)
        self._booster: Any = None

    # -- params -----------------------------------------------------------------
    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``num_threads`` from ``n_jobs`` (a fixed count is what makes LightGBM's
        ``deterministic`` mode bit-exact); with ``deterministic``, also
        ``deterministic`` and ``force_col_wise``."""
        out: dict[str, Any] = {"num_threads": thread_count(n_jobs)}
        if deterministic:
            out.update(deterministic=True, force_col_wise=True)
        return out

    @classmethod
    def _dataset_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: params[k] for k in DATASET_KEYS if k in params}

    def _train_params(self, seed: int) -> tuple[dict[str, Any], int, int]:
        """(LightGBM params, number of rounds, early-stopping rounds)."""
        params = dict(self.params)
        n_rounds = _positive_int(_pop_first(params, N_ESTIMATORS_KEYS, 100), "n_estimators")
        stop_rounds = _positive_int(_pop_first(params, EARLY_STOPPING_KEYS, 20), "early_stopping")
        params["seed"] = seed
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
        lgb = _lgb()
        ds_params = self._dataset_params(self.params)
        train = lgb.Dataset(
            X, label=y, weight=sample_weight, params=dict(ds_params), free_raw_data=True
        )
        valid = None
        if eval_set is not None:
            Xe, ye = eval_set
            valid = lgb.Dataset(Xe, label=ye, reference=train, params=dict(ds_params))
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
        """Fit on a subset of the binned matrix (no re-binning); see the base class."""
        if not isinstance(data, LightGBMPrepared):
            return super().fit_prepared(
                data, rows, y, eval_rows=eval_rows, sample_weight=sample_weight, seed=seed
            )
        wanted = self._dataset_params(self.params)
        if wanted != data.dataset_params:
            raise ModelError(
                f"the data was prepared with binning params {data.dataset_params}, but this "
                f"model uses {wanted}; call prepare() with the model's params"
            )
        sorted_rows, sorted_eval = self._binned_rows(
            data.n_rows, data.n_features, rows, y, eval_rows
        )
        train = data.subset(sorted_rows, y, sample_weight)
        valid = None if sorted_eval is None else data.subset(sorted_eval, y, None)
        return self._train(train, valid, seed)

    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> LightGBMPrepared:
        """Bin ``X`` once (no labels are used) into a reusable ``Dataset``."""
        return cls.prepare_matrix(X, params)

    @classmethod
    def prepare_matrix(
        cls, X: FeatureMatrix, params: Mapping[str, Any] | None = None
    ) -> LightGBMPrepared:
        """:meth:`prepare` on a matrix that may be read by parts: binned a column
        group at a time, then only rows are read (test rows to predict), so it
        is never held whole."""
        merged = {**cls.default_params, **(params or {})}
        with rejected_params(cls.name, _lgb().basic.LightGBMError):
            return LightGBMPrepared(X, cls._dataset_params(merged))

    def _train(self, train: Any, valid: Any | None, seed: int) -> Self:
        lgb = _lgb()
        params, n_rounds, stop_rounds = self._train_params(seed)
        callbacks = []
        valid_sets = []
        if valid is not None:
            valid_sets = [valid]
            callbacks.append(lgb.early_stopping(stop_rounds, first_metric_only=True, verbose=False))
        with rejected_params(self.name, lgb.basic.LightGBMError):
            booster = lgb.train(
                params,
                train,
                num_boost_round=n_rounds,
                valid_sets=valid_sets,
                valid_names=["eval"] if valid_sets else None,
                callbacks=callbacks,
            )
        if valid is not None:
            best = int(booster.best_iteration) or booster.current_iteration()
            self.best_iteration = best
            text = booster.model_to_string(num_iteration=best)
        else:
            self.best_iteration = None
            text = booster.model_to_string(num_iteration=-1)
        # Keep only the trees used for prediction; the model is detached from the data.
        self._booster = lgb.Booster(model_str=text)
        self.n_features_ = int(self._booster.num_feature())
        return self

    # -- use ----------------------------------------------------------------------
    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        return as_float64(self._booster.predict(X))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        kind = self._resolve_kind(kind)
        if self._booster is None:
            raise ModelError("the lightgbm model is not fitted; call fit first")
        if kind == "shap":
            if X is None:
                raise ModelError(
                    "importance kind 'shap' needs rows to explain: pass X=... (a sample)"
                )
            self._check_predict_input(X)
            contrib = np.asarray(self._booster.predict(X, pred_contrib=True), dtype=np.float64)
            return as_float64(np.abs(contrib[:, : self.n_features_]).mean(axis=0))
        values = self._booster.feature_importance(importance_type=kind)
        return np.abs(as_float64(values))

    @property
    def booster(self) -> Any:
        """The fitted ``lightgbm.Booster`` (for advanced use)."""
        return self._booster

    # -- persistence ----------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self._booster is None:
            raise ModelError("cannot save an unfitted lightgbm model")
        directory = Path(directory)
        self._write_meta(directory, model_file=MODEL_FILE)
        (directory / MODEL_FILE).write_text(self._booster.model_to_string(num_iteration=-1))

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load ``model.txt``; a file that is not a complete LightGBM text model is a
        :class:`ModelError` (LightGBM itself may crash on a truncated one)."""
        model, _ = cls._read_meta(Path(directory))
        path = Path(directory) / MODEL_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read {path}: {exc}") from None
        if not text.startswith("tree\n") or "\nend of trees\n" not in text:
            raise ModelError(f"{path} is not a complete LightGBM text model (damaged or truncated)")
        model._booster = _lgb().Booster(model_str=text)
        return model

"""What the torch families share: params, fitting on rows, prediction, saving.

A torch family reads each row through a window of ``lookback`` bars of its
symbol (``mlp``: 1, the row itself; ``gru``: the param). Every fit goes through
:meth:`TorchFamily._fit_rows` on one feature matrix with a :class:`RowIndex`:

- ``fit(X, y)`` without an index reads the rows of ``X`` as ONE symbol's
  consecutive bars, and an ``eval_set`` as the bars that follow them; its
  mini-batch "timestamps" are blocks of :data:`BLOCK_ROWS` consecutive rows;
- stages prepare the panel's matrix with its index (``prepare_indexed``): then
  windows follow each symbol and mini-batches are the panel's timestamps.

Standardisation (mean, standard deviation) and imputation (NaN -> the mean) use
the fit rows only; they are saved with the weights. Saved files: ``model.pt``
(the ``state_dict``, loaded with ``torch.load(weights_only=True)``) and the
architecture, scalers and params in ``family.json``.
"""

from __future__ import annotations

from abc import abstractmethod
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
    ModelParamsError,
    PreparedData,
    RowIndex,
    Task,
    as_float64,
    params_message,
    thread_count,
)
from panelml.models.torch import _train
from panelml.models.torch._lib import torch_device, torch_module, torch_session
from panelml.models.torch.windows import gather, previous_rows, window_rows

MODEL_FILE = "model.pt"
BLOCK_ROWS = 128
"""Rows per mini-batch group when ``fit`` gets no row index."""

COMMON_DEFAULTS: Mapping[str, Any] = {
    "loss": None,  # mse (regression) or bce (binary)
    "max_iter": 50,
    "early_stopping_rounds": 5,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "batch_timestamps": 32,
    "device": "auto",
    "num_threads": 0,
    "deterministic": False,
}


class TorchPrepared(PreparedData):
    """The feature matrix with each row's symbol and bar (``index``, may be None)."""

    def __init__(self, X: npt.NDArray[np.float32], index: RowIndex | None) -> None:
        super().__init__(X)
        if index is not None and index.symbols.shape[0] != X.shape[0]:
            raise ModelError(f"the row index has {index.symbols.shape[0]} rows, X {X.shape[0]}")
        self.index = index
        self._prev: npt.NDArray[np.intp] | None = None

    def previous(self) -> npt.NDArray[np.intp] | None:
        """Previous-bar row of every row (computed once), None without an index."""
        if self.index is not None and self._prev is None:
            self._prev = previous_rows(self.index)
        return self._prev

    def groups(self) -> npt.NDArray[np.int64]:
        """Mini-batch group of every row: its timestamp, or a block of rows."""
        if self.index is not None:
            return self.index.times
        return (np.arange(self.n_rows) // BLOCK_ROWS).astype(np.int64)


def _single_series(n_rows: int) -> RowIndex:
    return RowIndex(np.zeros(n_rows, dtype=np.int64), np.arange(n_rows, dtype=np.int64))


class TorchFamily(ModelFamily):
    """Shared implementation; subclasses define the net and its params."""

    needs_row_index: ClassVar[bool] = True
    supports_early_stopping: ClassVar[bool] = True
    importance_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        super().__init__(task, params)
        self._net: Any = None
        self.scalers_: dict[str, list[float]] = {}

    # -- what subclasses define -------------------------------------------------------
    @property
    def lookback(self) -> int:
        """Bars per window (1: the row only)."""
        return 1

    @abstractmethod
    def _build_net(self, torch: Any, n_features: int) -> Any:
        """A fresh ``torch.nn.Module`` mapping ``(batch, lookback, n_features)`` to ``(batch,)``."""

    # -- params -------------------------------------------------------------------------
    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``num_threads`` from ``n_jobs``; ``deterministic`` turns on
        ``torch.use_deterministic_algorithms`` during fits."""
        return {"num_threads": thread_count(n_jobs), "deterministic": deterministic}

    @property
    def loss(self) -> str:
        loss = self.params.get("loss") or ("bce" if self.task == "binary" else "mse")
        if loss not in _train.LOSSES or (loss == "bce" and self.task != "binary"):
            allowed = "mse, ic" + (", bce" if self.task == "binary" else "")
            raise ModelParamsError(
                f"model family {self.name!r} got loss {loss!r}: set family_params.{self.name}.loss "
                f"to one of {allowed}"
            )
        return str(loss)

    def _int_param(self, key: str, minimum: int) -> int:
        value = self.params.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ModelParamsError(
                params_message(
                    self.name, ValueError(f"{key}={value!r}, want an integer >= {minimum}")
                )
            )
        return value

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        X: FloatArray,
        y: FloatArray,
        *,
        sample_weight: FloatArray | None = None,
        eval_set: tuple[FloatArray, FloatArray] | None = None,
        seed: int = 0,
    ) -> Self:
        """Fit on ``X`` read as one symbol's consecutive bars (module docstring);
        ``sample_weight`` is not supported by the torch families."""
        self._check_fit_inputs(X, y, sample_weight)
        if sample_weight is not None:
            raise ModelError(f"model family {self.name!r} does not take sample weights")
        n_fit = X.shape[0]
        if eval_set is not None:
            X = np.concatenate([X, eval_set[0]])
            y = np.concatenate([y, eval_set[1]])
        data = TorchPrepared(np.ascontiguousarray(X, dtype=np.float32), _single_series(X.shape[0]))
        groups = (np.arange(X.shape[0]) // BLOCK_ROWS).astype(np.int64)
        rows = np.arange(n_fit, dtype=np.intp)
        val = None if eval_set is None else np.arange(n_fit, X.shape[0], dtype=np.intp)
        return self._fit_rows(data, groups, y, rows, val, seed)

    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> PreparedData:
        """No index: fits on it read rows as :meth:`fit` does."""
        return PreparedData(X)

    @classmethod
    def prepare_indexed(
        cls,
        X: npt.NDArray[np.float32],
        index: RowIndex,
        params: Mapping[str, Any] | None = None,
    ) -> TorchPrepared:
        """Keep the panel's row index: windows follow symbols, batches are timestamps."""
        return TorchPrepared(X, index)

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
        if not isinstance(data, TorchPrepared) or sample_weight is not None:
            return super().fit_prepared(
                data, rows, y, eval_rows=eval_rows, sample_weight=sample_weight, seed=seed
            )
        fit_rows, val_rows = self._binned_rows(data.n_rows, data.n_features, rows, y, eval_rows)
        if self.lookback > 1:
            data.previous()
        return self._fit_rows(data, data.groups(), y, fit_rows, val_rows, seed)

    def _fit_rows(
        self,
        data: TorchPrepared,
        groups: npt.NDArray[np.int64],
        y: FloatArray,
        rows: npt.NDArray[np.intp],
        val: npt.NDArray[np.intp] | None,
        seed: int,
    ) -> Self:
        loss = self.loss
        settings = _train.LoopSettings(
            loss=loss,
            max_epochs=self._int_param("max_iter", 1),
            patience=self._int_param("early_stopping_rounds", 1),
            learning_rate=float(self.params["learning_rate"]),
            weight_decay=float(self.params["weight_decay"]),
            batch_timestamps=self._int_param("batch_timestamps", 1),
            device=torch_device(self.name, self.params.get("device", "auto")),
            seed=seed,
        )
        self.device_ = settings.device
        fit_X = np.asarray(data.X[rows], dtype=np.float64)
        mean = np.nan_to_num(np.nanmean(np.where(np.isfinite(fit_X), fit_X, np.nan), axis=0))
        std = np.nanstd(np.where(np.isfinite(fit_X), fit_X, np.nan), axis=0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        y_mean, y_std = 0.0, 1.0
        if loss == "mse":
            y_mean, y_std = float(np.mean(y[rows])), float(np.std(y[rows])) or 1.0
        self.scalers_ = {
            "mean": [float(v) for v in mean.astype(np.float32)],
            "scale": [float(v) for v in std.astype(np.float32)],
            "y": [y_mean, y_std],
        }
        target = np.zeros(data.n_rows, dtype=np.float32)
        known = np.concatenate([rows, val]) if val is not None else rows
        target[known] = ((y[known] - y_mean) / y_std).astype(np.float32)
        self.n_features_ = data.n_features
        threads = int(self.params.get("num_threads") or 0)
        with torch_session(self.name, seed, threads, bool(self.params["deterministic"])) as torch:
            net = self._build_net(torch, data.n_features)
            best = _train.train(
                torch,
                net,
                self._inputs(data.X, data.previous() if self.lookback > 1 else None),
                target,
                _train.Batches.of(rows, groups),
                None if val is None else _train.Batches.of(val, groups),
                settings,
            )
        self._net = net
        self.best_iteration = best
        return self

    # -- predict ----------------------------------------------------------------------------
    def _inputs(
        self, X: npt.NDArray[np.float32], prev: npt.NDArray[np.intp] | None
    ) -> _train.Inputs:
        mean = np.asarray(self.scalers_["mean"], dtype=np.float32)
        scale = np.asarray(self.scalers_["scale"], dtype=np.float32)
        lookback = self.lookback

        def inputs(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
            return gather(X, window_rows(prev, rows, lookback), mean, scale)

        return inputs

    def _predict_rows(
        self, X: npt.NDArray[np.float32], prev: npt.NDArray[np.intp] | None, rows: Any
    ) -> npt.NDArray[np.float64]:
        if self._net is None:
            raise ModelError(f"model family {self.name!r} is not fitted; call fit first")
        torch = torch_module(self.name)
        raw = _train.scores(torch, self._net, self._inputs(X, prev), rows, "cpu")
        score = raw.numpy().astype(np.float64)
        if self.task == "binary":
            return as_float64(1.0 / (1.0 + np.exp(-score)))
        y_mean, y_std = self.scalers_["y"]
        return as_float64(score * y_std + y_mean)

    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        """Predictions for ``X`` read as one symbol's consecutive bars (see the module
        docstring; stages use :meth:`predict_prepared` / :meth:`predict_indexed`)."""
        self._check_predict_input(X)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        prev = previous_rows(_single_series(X.shape[0])) if self.lookback > 1 else None
        return self._predict_rows(X32, prev, np.arange(X.shape[0], dtype=np.intp))

    def predict_prepared(self, data: PreparedData, rows: IndexArray) -> npt.NDArray[np.float64]:
        if not isinstance(data, TorchPrepared):
            return super().predict_prepared(data, rows)
        self._check_predict_input(data.X)
        prev = data.previous() if self.lookback > 1 else None
        return self._predict_rows(data.X, prev, np.asarray(rows, dtype=np.intp))

    def predict_indexed(self, X: FloatArray, index: RowIndex) -> npt.NDArray[np.float64]:
        self._check_predict_input(X)
        data = TorchPrepared(np.ascontiguousarray(X, dtype=np.float32), index)
        return self.predict_prepared(data, np.arange(X.shape[0], dtype=np.intp))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        self._resolve_kind(kind)  # raises: no built-in importance (use permutation)
        raise AssertionError("unreachable")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self._net is None:
            raise ModelError(f"cannot save an unfitted {self.name} model")
        torch = torch_module(self.name)
        directory = Path(directory)
        self._write_meta(
            directory,
            model_file=MODEL_FILE,
            architecture=self._architecture(),
            scalers=self.scalers_,
        )
        torch.save(self._net.state_dict(), directory / MODEL_FILE)

    def _architecture(self) -> dict[str, Any]:
        """The net's shape (JSON), enough to rebuild it before loading the weights."""
        return {
            "net": type(self._net).__name__,
            "n_features": self.n_features_,
            "lookback": self.lookback,
            "layers": [name for name, _ in self._net.named_children()],
        }

    @classmethod
    def load(cls, directory: Path) -> Self:
        model, meta = cls._read_meta(Path(directory))
        torch = torch_module(cls.name)
        model.scalers_ = dict(meta["scalers"])
        net = model._build_net(torch, int(meta["architecture"]["n_features"]))
        state = torch.load(Path(directory) / MODEL_FILE, weights_only=True, map_location="cpu")
        net.load_state_dict(state)
        net.eval()
        model._net = net
        return model

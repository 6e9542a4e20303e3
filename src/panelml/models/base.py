"""The ModelFamily contract every model family implements.

A family object is created with a task and its params, then fitted::

    model = LightGBMFamily(task="regression", params={"n_estimators": 200})
    model.fit(X, y, eval_set=(X_val, y_val), seed=7)
    model.predict(X_new); model.importance("gain"); model.save(dir)
    same = LightGBMFamily.load(dir)   # identical predictions

Params: ``default_params`` (fast defaults shared by both tasks), then
``task_params[task]`` (task-specific defaults), then the user's params; user
keys are passed straight to the library except the few keys a family documents
as its own (``n_estimators``, ``early_stopping_rounds`` ...).

Work reuse (the main speed lever when many targets and folds share one feature
matrix): ``prepare`` bins the full matrix once; ``fit_prepared`` fits any rows and labels.
The equivalence guaranteed: ``fit_prepared(prepare(X, params), rows, y,
eval_rows=e)`` predicts exactly like ``fit(X[rows], y[rows], eval_set=(X[e],
y[e]))`` *when both use the same bin boundaries*. Families that do not bin
(linear, sklearn trees, HistGradientBoosting) fit the very same arrays, so the
two are always identical. LightGBM/XGBoost bin the full matrix once in
``prepare``; a fresh ``fit`` bins only ``X[rows]``. The bins agree whenever
every feature's boundaries do not depend on which rows are present (e.g. a
feature with fewer distinct values than ``max_bin``, all present in ``rows``);
otherwise the prepared fit equals a fresh fit built on the full matrix's
bins (LightGBM ``Dataset(X[rows], reference=full)``, XGBoost
``QuantileDMatrix(X[rows], ref=full)``). Rows are used in ascending order.

``fit_many`` fits one model per column of a label matrix; linear families
solve them in one factorisation.

Row index (a declared capability): a family whose inputs are more than one row
(``gru`` reads each symbol's last bars) sets ``needs_row_index = True``. Stages
then prepare its matrix with :meth:`ModelFamily.prepare_indexed`, passing each
row's symbol and bar (:class:`RowIndex`), predict held-out rows with
:meth:`ModelFamily.predict_prepared`, and score new data with
:meth:`ModelFamily.predict_indexed`. For every other family these default to
``prepare``, ``predict(X[rows])`` and ``predict(X)``, so stages may call them for
any family and only the families that ask receive the index.
"""

from __future__ import annotations

import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from panelml.data.matrix import FeatureMatrix, whole
from panelml.models._checks import FamilyChecks
from panelml.models.errors import (
    ModelError,
    ModelParamsError,
    native_stderr_silenced,
    params_message,
    rejected_params,
)
from panelml.models.rows import (
    FloatArray,
    IndexArray,
    PreparedData,
    RowIndex,
    Task,
    as_float64,
    check_rows,
    thread_count,
)

__all__ = [
    "FAMILY_FILE",
    "FORMAT_VERSION",
    "FloatArray",
    "IndexArray",
    "ModelError",
    "ModelFamily",
    "ModelParamsError",
    "PreparedData",
    "RowIndex",
    "Task",
    "as_float64",
    "check_rows",
    "native_stderr_silenced",
    "params_message",
    "rejected_params",
    "thread_count",
]


FAMILY_FILE = "family.json"
"""Name of the JSON record every family writes next to its native model file (the
saved-model folder's own record is ``meta.json``: :mod:`panelml.models.bundle`)."""

FORMAT_VERSION = 1


class ModelFamily(FamilyChecks, ABC):
    """One model family behind one interface (see the module docstring).

    Class attributes:
        name: registry name (``lightgbm``, ``ridge``, ...).
        importance_kinds: the kinds :meth:`importance` accepts; the first is the default.
        supports_early_stopping: whether ``eval_set`` is used to pick the number
            of iterations (then ``best_iteration`` is set after fit).
        supports_fit_many: whether :meth:`fit_many` solves several targets at
            once (one multi-output solve); stages then group targets that share
            their rows and fit them together. Declare it with the override.
        default_params: fast, sensible defaults; user params override them.
        task_params: task-specific defaults layered over ``default_params``.
        needs_row_index: whether the family reads each row's symbol and bar
            (see the module docstring); stages pass a :class:`RowIndex` only then.
        reads_history: whether a row's prediction reads the symbol's earlier rows
            (``gru``): per-row shuffles and row-wise scoring do not apply to it.

    ``device_`` is the device the model was fitted on (``cpu`` unless the family
    takes a ``device`` param, :mod:`panelml.models.devices`); it is saved.
    """

    name: ClassVar[str]
    importance_kinds: ClassVar[tuple[str, ...]] = ()
    supports_early_stopping: ClassVar[bool] = False
    supports_fit_many: ClassVar[bool] = False
    needs_row_index: ClassVar[bool] = False
    reads_history: ClassVar[bool] = False
    default_params: ClassVar[Mapping[str, Any]] = {}
    task_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        if task not in ("regression", "binary"):
            raise ModelError(f"task must be 'regression' or 'binary', got {task!r}")
        self.task: Task = task
        self.params: dict[str, Any] = {**self.defaults_for(task), **(params or {})}
        self.best_iteration: int | None = None
        self.n_features_: int | None = None
        self.device_: str = "cpu"

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Thread and reproducibility settings for this run's ``runtime`` section.

        ``n_jobs`` is ``runtime.n_jobs`` (``-1``: all cores; see :func:`thread_count`),
        ``deterministic`` is ``runtime.deterministic`` (bit-exact settings wanted).
        Every stage that fits merges the returned params over the user's, leaving
        out keys present in ``user_params``. Override it in families whose library
        takes a thread count: a library's own default of all cores degrades badly
        when the machine is shared. Default: nothing.
        """
        return {}

    @classmethod
    def defaults_for(cls, task: Task) -> dict[str, Any]:
        """The default params for ``task`` (before the user's params)."""
        return {**cls.default_params, **cls.task_params.get(task, {})}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, params={self.params!r})"

    # -- core -----------------------------------------------------------------
    @abstractmethod
    def fit(
        self,
        X: FloatArray,
        y: FloatArray,
        *,
        sample_weight: FloatArray | None = None,
        eval_set: tuple[FloatArray, FloatArray] | None = None,
        seed: int = 0,
    ) -> Self:
        """Fit on (X, y); y holds no NaN. Binary targets are 0/1 floats.

        ``eval_set`` is an early-stopping set; families without early
        stopping ignore it. The same ``seed`` gives the same model.
        """

    @abstractmethod
    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        """Predictions: values (regression) or P(y=1) (binary), float64."""

    @abstractmethod
    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        """Non-negative importance per feature, float64, shape (n_features,).

        ``kind`` is one of ``importance_kinds`` (default: the first). Kinds
        computed from data (``shap``) need ``X``, a sample of rows to explain.
        An unknown kind, or any kind for a family that declares none, raises
        :class:`ModelError` (a ``ValueError``).
        """

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Save in the library's native format (never pickle) into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Load a model written by :meth:`save`; predictions are identical."""

    @classmethod
    def check_params(
        cls, task: Task = "regression", params: Mapping[str, Any] | None = None
    ) -> None:
        """Raise :class:`ModelParamsError` when the library rejects ``params``.

        A dry run: one fit on a tiny fixed synthetic sample (64 rows, 3 features),
        which is where every library validates its params. Raises ``ImportError``
        when the family's library is missing.
        """
        rng = np.random.default_rng(0)
        X = rng.standard_normal((64, 3)).astype(np.float32)
        # 0/1 labels suit every task and objective (a binary objective rejects other values)
        y = (X[:, 0] > 0).astype(np.float64)
        try:
            # a dry run: its device fallback line would go nowhere (stderr is silenced)
            # and, once shown, not again when the real fit runs
            with native_stderr_silenced(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="model family .* device 'auto'")
                cls(task, params).fit(X, y, seed=0)
        except (ImportError, ModelParamsError):
            raise
        except Exception as exc:  # any refusal of these params by the library
            raise ModelParamsError(params_message(cls.name, exc)) from exc

    # -- reuse (override for speed; defaults are correct but do no reuse) -------
    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> PreparedData:
        """Prepare the full feature matrix once for many ``fit_prepared`` calls.

        ``params`` are the family params the later fits will use (only the
        binning-related ones matter).
        """
        return PreparedData(X)

    @classmethod
    def prepare_matrix(
        cls, X: FeatureMatrix, params: Mapping[str, Any] | None = None
    ) -> PreparedData:
        """:meth:`prepare` for a matrix that may be read by parts
        (:class:`~panelml.data.matrix.MatrixParts`). Default: the whole matrix
        is gathered and prepared. A family that reads only rows after preparing
        (LightGBM: bins, then test rows) overrides this and never holds it whole."""
        return cls.prepare(whole(X), params)

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
        """Fit on ``data`` restricted to ``rows`` (used in ascending order).

        ``y`` (and ``sample_weight``) are full-length vectors indexed by the
        same rows; ``eval_rows`` is the early-stopping set. See the module
        docstring for the equivalence with :meth:`fit`.
        """
        rows = check_rows(rows, data.n_rows, "rows")
        X = data.X
        eval_set = None
        if eval_rows is not None:
            eval_rows = check_rows(eval_rows, data.n_rows, "eval_rows")
            eval_set = (X[eval_rows], y[eval_rows])
        weight = None if sample_weight is None else sample_weight[rows]
        return self.fit(X[rows], y[rows], sample_weight=weight, eval_set=eval_set, seed=seed)

    @classmethod
    def prepare_indexed(
        cls,
        X: npt.NDArray[np.float32],
        index: RowIndex,
        params: Mapping[str, Any] | None = None,
    ) -> PreparedData:
        """:meth:`prepare` for stages that know each row's symbol and bar; families
        with ``needs_row_index`` keep ``index`` (default: it is not used)."""
        return cls.prepare(X, params)

    def predict_prepared(self, data: PreparedData, rows: IndexArray) -> npt.NDArray[np.float64]:
        """Predictions for ``rows`` of a prepared matrix, in the order given (default:
        ``predict(data.rows(rows))``; sequence families also read earlier rows)."""
        return self.predict(data.rows(rows))

    def predict_indexed(self, X: FloatArray, index: RowIndex) -> npt.NDArray[np.float64]:
        """Predictions for new data whose rows' symbols and bars are ``index``
        (default: ``predict(X)``; sequence families build windows from it)."""
        return self.predict(X)

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
        """One fitted model per column of ``Y`` (no NaN). Linear families override
        this with a single multi-output solve."""
        return [
            cls(task, params).fit(X, np.ascontiguousarray(Y[:, j]), seed=seed)
            for j in range(Y.shape[1])
        ]

    @classmethod
    def fit_many_prepared(
        cls,
        data: PreparedData,
        rows: IndexArray,
        Y: FloatArray,
        *,
        task: Task = "regression",
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> list[Self]:
        """:meth:`fit_many` on ``data`` restricted to ``rows`` (used in ascending
        order); ``Y`` is full-length, (panel rows, targets). Checks the rows,
        then :meth:`_fit_many_rows` (linear families read the rows straight
        into their float64 matrix)."""
        picked = check_rows(rows, data.n_rows, "rows")
        if Y.ndim != 2 or Y.shape[0] != data.n_rows:
            raise ModelError(f"Y must be a (rows, targets) matrix with {data.n_rows} rows")
        return cls._fit_many_rows(data.X, picked, Y[picked], task, params, seed)

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
        """:meth:`fit_many` on ``X[rows]`` (all rows when ``None``), ``Y`` holding the
        labels of those rows: the one place a family that can fit rows in place
        overrides (default: gather them, then :meth:`fit_many`)."""
        subset = X if rows is None else X[rows]
        return cls.fit_many(subset, Y, task=task, params=params, seed=seed)

    # -- helpers for implementations ------------------------------------------
    def _write_meta(self, directory: Path, **extra: Any) -> None:
        """Write ``family.json``: what :meth:`load` needs besides the model file."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "family": self.name,
            "task": self.task,
            "params": self.params,
            "n_features": self.n_features_,
            "best_iteration": self.best_iteration,
            "device": self.device_,
            **extra,
        }
        (directory / FAMILY_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def _read_meta(cls, directory: Path) -> tuple[Self, dict[str, Any]]:
        """Read ``family.json`` and build an unfitted instance from it."""
        path = Path(directory) / FAMILY_FILE
        if not path.is_file():
            raise ModelError(f"{path} is missing; is {directory} a saved {cls.name} model?")
        meta: dict[str, Any] = json.loads(path.read_text())
        if meta.get("family") != cls.name:
            raise ModelError(f"{directory} holds a {meta.get('family')!r} model, not {cls.name!r}")
        model = cls(meta["task"], meta["params"])
        model.params = dict(meta["params"])
        model.n_features_ = meta["n_features"]
        model.best_iteration = meta["best_iteration"]
        model.device_ = str(meta.get("device") or "cpu")
        return model, meta

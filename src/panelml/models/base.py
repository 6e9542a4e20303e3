"""The ModelFamily contract every model family implements.

A family object is created with a task and its params, then fitted:

    model = LightGBMFamily(task="regression", params={"n_estimators": 200})
    model.fit(X, y, eval_set=(X_val, y_val), seed=7)
    model.predict(X_new); model.importance("gain"); model.save(dir)
    same = LightGBMFamily.load(dir)   # identical predictions

Work reuse (the main speed lever when many targets and folds share one
feature matrix): ``prepare`` bins/copies the full matrix once, and
``fit_prepared`` fits on a subset of its rows with any label vector. For
LightGBM/XGBoost this reuses the binned data (``Dataset.subset`` + label swap);
the results equal a fresh ``fit`` on the same rows. ``fit_many`` fits one model
per column of a label matrix; linear families solve them in one factorisation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

Task = Literal["regression", "binary"]
FloatArray = npt.NDArray[np.floating[Any]]
IndexArray = npt.NDArray[np.intp] | npt.NDArray[np.int64]


class PreparedData:
    """A feature matrix prepared once for many fits (default: the raw matrix).

    Families that bin (LightGBM, XGBoost) subclass this to hold their binned
    structure; the default keeps a reference to ``X`` only.
    """

    def __init__(self, X: npt.NDArray[np.float32]) -> None:
        self.X = X

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


class ModelFamily(ABC):
    """One model family behind one interface (see the module docstring).

    Class attributes:
        name: registry name (``lightgbm``, ``ridge``, ...).
        importance_kinds: the kinds :meth:`importance` accepts; the first is the default.
        supports_early_stopping: whether ``eval_set`` is used to pick the number
            of iterations (then ``best_iteration`` is set after fit).
        default_params: fast, sensible defaults; user params override them.
    """

    name: ClassVar[str]
    importance_kinds: ClassVar[tuple[str, ...]] = ()
    supports_early_stopping: ClassVar[bool] = False
    default_params: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, task: Task = "regression", params: Mapping[str, Any] | None = None) -> None:
        if task not in ("regression", "binary"):
            raise ValueError(f"task must be 'regression' or 'binary', got {task!r}")
        self.task: Task = task
        self.params: dict[str, Any] = {**self.default_params, **(params or {})}
        self.best_iteration: int | None = None
        self.n_features_: int | None = None

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
        """Fit on (X, y); y holds no NaN. Binary targets are 0/1 floats."""

    @abstractmethod
    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        """Predictions: values (regression) or P(y=1) (binary), float64."""

    @abstractmethod
    def importance(self, kind: str | None = None) -> npt.NDArray[np.float64]:
        """Non-negative importance per feature, shape (n_features,)."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Save in the library's native format (never pickle) into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Load a model written by :meth:`save`; predictions are identical."""

    # -- reuse (override for speed; defaults are correct but do no reuse) -------
    @classmethod
    def prepare(
        cls, X: npt.NDArray[np.float32], params: Mapping[str, Any] | None = None
    ) -> PreparedData:
        """Prepare the full feature matrix once for many ``fit_prepared`` calls."""
        return PreparedData(X)

    def fit_prepared(
        self,
        data: PreparedData,
        rows: IndexArray,
        y: FloatArray,
        *,
        eval_rows: IndexArray | None = None,
        seed: int = 0,
    ) -> Self:
        """Fit on ``data`` restricted to ``rows``; ``y`` is the full-length label
        vector (indexed by the same rows). ``eval_rows`` is the early-stopping set."""
        X = data.X
        eval_set = None if eval_rows is None else (X[eval_rows], y[eval_rows])
        return self.fit(X[rows], y[rows], eval_set=eval_set, seed=seed)

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

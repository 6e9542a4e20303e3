"""Input checks shared by every model family: importance kinds, fit inputs, the
rows of a prepared fit and prediction inputs.

Why a module of its own: :class:`~panelml.models.base.ModelFamily` states the
contract a family implements; these are the checks its implementations call
so that every family rejects bad input with the same one-line
:class:`~panelml.models.errors.ModelError`. :class:`FamilyChecks` is a mixin of
``ModelFamily`` and reads only the attributes it declares.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from panelml.models.errors import ModelError
from panelml.models.rows import FloatArray, IndexArray, Task, check_rows

__all__ = ["FamilyChecks"]


class FamilyChecks:
    """Checks of a family's inputs (mixed into ``ModelFamily``)."""

    name: ClassVar[str]
    importance_kinds: ClassVar[tuple[str, ...]]
    task: Task
    n_features_: int | None

    def _resolve_kind(self, kind: str | None) -> str:
        """The importance kind to compute, or a clear error."""
        if not self.importance_kinds:
            raise ModelError(
                f"model family {self.name!r} has no built-in importance; "
                "use permutation importance instead"
            )
        if kind is None:
            return self.importance_kinds[0]
        if kind not in self.importance_kinds:
            raise ModelError(
                f"unknown importance kind {kind!r} for model family {self.name!r}; "
                f"available: {', '.join(self.importance_kinds)}"
            )
        return kind

    def _check_fit_inputs(
        self, X: FloatArray, y: FloatArray, sample_weight: FloatArray | None = None
    ) -> None:
        """Validate shapes and labels before a fit and record ``n_features_``."""
        if X.ndim != 2:
            raise ModelError(f"X must be a 2-D matrix, got shape {X.shape}")
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ModelError(f"y must be 1-D with {X.shape[0]} values, got shape {y.shape}")
        if X.shape[0] == 0:
            raise ModelError("cannot fit on zero rows")
        self._check_labels(y)
        if sample_weight is not None and sample_weight.shape != y.shape:
            raise ModelError(f"sample_weight must have shape {y.shape}, got {sample_weight.shape}")
        self.n_features_ = int(X.shape[1])

    def _binned_rows(
        self,
        n_rows: int,
        n_features: int,
        rows: IndexArray,
        y: FloatArray,
        eval_rows: IndexArray | None,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp] | None]:
        """Checked, sorted fit and early-stopping rows of a binned ``fit_prepared``
        (``y`` full-length, labels valid for the task); records ``n_features_``."""
        if y.shape[0] != n_rows:
            raise ModelError(f"y must be full-length ({n_rows} values), got {y.shape[0]}")
        sorted_rows = check_rows(rows, n_rows, "rows")
        self._check_labels(y[sorted_rows])
        self.n_features_ = n_features
        if eval_rows is None:
            return sorted_rows, None
        sorted_eval = check_rows(eval_rows, n_rows, "eval_rows")
        self._check_labels(y[sorted_eval])
        return sorted_rows, sorted_eval

    def _check_labels(self, y: FloatArray) -> None:
        """Labels hold no NaN, and only 0/1 for a binary task."""
        if np.isnan(y).any():
            raise ModelError("y holds NaN; drop those rows before fitting")
        if self.task == "binary" and not np.isin(y, (0.0, 1.0)).all():
            raise ModelError("a binary target must hold only 0 and 1")

    def _check_predict_input(self, X: FloatArray) -> None:
        """A clear error for predicting before fit or with the wrong columns."""
        if self.n_features_ is None:
            raise ModelError(f"model family {self.name!r} is not fitted; call fit first")
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ModelError(f"X must have {self.n_features_} feature columns, got shape {X.shape}")

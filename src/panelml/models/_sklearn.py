"""Helpers shared by the scikit-learn based families: NaN imputation and
pickle-free persistence with skops.

Imputation uses the training column means (all-NaN columns impute 0) and is
stored with the model, so prediction fills NaN the same way.

skops files are loaded only after checking that every type skops does not
trust by default is one this module expects (the tree structures of
scikit-learn's forests and histogram boosting); anything else is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models.base import FloatArray, ModelError

EXPECTED_UNTRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HalfBinomialLoss",
    }
)
"""Types a saved panelml model may hold beyond skops' default trusted set."""


COLUMN_SUM_CELLS = 1_000_000
"""Cells of a row chunk that :func:`column_sums` reads at once (8 MB in float64)."""


def column_sums(
    X: FloatArray,
    transform: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
) -> npt.NDArray[np.float64]:
    """``transform(X as float64).sum(axis=0)``, bit for bit, a row chunk at a time.

    Why by hand: ``np.nanmean`` and ``ndarray.std`` make one or two float64
    temporaries the size of the whole matrix (3.2x a float32 matrix; a linear
    fit's memory peak). NumPy sums a C-ordered matrix over axis 0 row after
    row, so the running total is carried into the next chunk as its first row
    and the sums equal one call over the whole matrix (tests compare them
    exactly, NaN, one column and ragged chunks included). A single column or a
    matrix that is not C-ordered is summed pairwise by NumPy, so it is read in
    one call (no chunks)."""
    X = np.asarray(X)
    step = _sum_step(X)
    total: npt.NDArray[np.float64] | None = None
    for lo in range(0, max(1, X.shape[0]), step):
        part: npt.NDArray[np.float64] = np.asarray(X[lo : lo + step], dtype=np.float64)
        if transform is not None:
            part = transform(part)
        total = (
            part.sum(axis=0)
            if total is None
            else np.concatenate([total[None, :], part]).sum(axis=0)
        )
    assert total is not None
    return total


def _sum_step(X: npt.NDArray[Any]) -> int:
    """Rows per chunk of :func:`column_sums` (all rows where NumPy sums pairwise)."""
    if X.ndim != 2 or X.shape[1] < 2 or not X.flags.c_contiguous:
        return max(1, int(X.shape[0]))
    return max(1, COLUMN_SUM_CELLS // int(X.shape[1]))


def column_means(X: FloatArray) -> npt.NDArray[np.float64]:
    """Per-column means ignoring NaN (``np.nanmean``, bit for bit, without its
    whole-matrix copies); 0 for an all-NaN column (no warning)."""
    X = np.asarray(X)
    counts = np.zeros(X.shape[1], dtype=np.intp)
    step = _sum_step(X)
    for lo in range(0, X.shape[0], step):
        counts += (~np.isnan(X[lo : lo + step])).sum(axis=0, dtype=np.intp)
    totals = column_sums(X, lambda part: np.where(np.isnan(part), 0.0, part))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals / counts
    return np.asarray(np.nan_to_num(means, nan=0.0), dtype=np.float64)


def column_stds(Z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``Z.std(axis=0)`` (population), bit for bit, without its whole-matrix
    temporary of squared deviations."""
    n = Z.shape[0]
    mean = column_sums(Z) / n
    return np.asarray(np.sqrt(column_sums(Z, lambda part: np.square(part - mean)) / n))


def impute(X: FloatArray, means: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A float64 copy of ``X`` with NaN replaced by ``means`` (per column)."""
    out = np.array(X, dtype=np.float64, order="C")
    mask = np.isnan(out)
    if mask.any():
        out[mask] = np.broadcast_to(means, out.shape)[mask]
    return out


def positive_proba(estimator: Any, X: FloatArray) -> npt.NDArray[np.float64]:
    """P(y=1) from a fitted classifier, also when training saw one class only."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = [float(c) for c in estimator.classes_]
    if 1.0 in classes:
        return np.ascontiguousarray(proba[:, classes.index(1.0)])
    return np.zeros(proba.shape[0], dtype=np.float64)


def dump_skops(estimator: Any, path: Path) -> None:
    """Write a fitted scikit-learn estimator with skops (no pickle)."""
    import skops.io

    skops.io.dump(estimator, str(path))


def load_skops(path: Path) -> Any:
    """Load a skops file, trusting only the types this module expects."""
    import skops.io

    if not path.is_file():
        raise ModelError(f"{path} is missing; the saved model is incomplete")
    untrusted = skops.io.get_untrusted_types(file=str(path))
    unexpected = sorted(set(untrusted) - EXPECTED_UNTRUSTED_TYPES)
    if unexpected:
        raise ModelError(
            f"{path} holds types panelml does not trust: {', '.join(unexpected)}; "
            "refusing to load it"
        )
    return skops.io.load(str(path), trusted=list(untrusted))


def param_errors() -> tuple[type[BaseException], ...]:
    """The exceptions scikit-learn raises for invalid params: a bad value
    (``InvalidParameterError``, checked at fit) or an unknown key (``TypeError``
    from the constructor)."""
    from sklearn.utils._param_validation import InvalidParameterError

    return (InvalidParameterError, TypeError)

"""Helpers shared by the scikit-learn based families: NaN imputation and
pickle-free persistence with skops.

Imputation uses the training column means (all-NaN columns impute 0) and is
stored with the model, so prediction fills NaN the same way.

skops files are loaded only after checking that every type skops does not
trust by default is one this module expects (the tree structures of
scikit-learn's forests and histogram boosting); anything else is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

IndexArray = npt.NDArray[np.integer[Any]]


def column_sums(
    X: FloatArray,
    transform: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
    rows: IndexArray | None = None,
) -> npt.NDArray[np.float64]:
    """``transform(X[rows] as float64).sum(axis=0)``, bit for bit, a row chunk at a
    time (``rows``: all rows when ``None``).

    Why by hand: ``np.nanmean`` and ``ndarray.std`` make one or two float64
    temporaries the size of the whole matrix (3.2x a float32 matrix; a linear
    fit's memory peak), and ``X[rows]`` would be a float32 copy of the fit rows
    (0.8x at five folds). NumPy sums a C-ordered matrix over axis 0 row after
    row, so the running total is carried into the next chunk as its first row
    and the sums equal one call over the whole (gathered) matrix (tests compare
    them exactly, NaN, one column, row subsets and ragged chunks included). A
    single column or a matrix that is not C-ordered is summed pairwise by
    NumPy, so it is read in one call (no chunks)."""
    X, rows = _rows_source(X, rows)
    n_rows = X.shape[0] if rows is None else rows.size
    step = _sum_step(X, n_rows)
    total: npt.NDArray[np.float64] | None = None
    for lo in range(0, max(1, n_rows), step):
        part: npt.NDArray[np.float64] = np.asarray(_rows_at(X, rows, lo, lo + step), np.float64)
        if transform is not None:
            part = transform(part)
        total = add_rows(total, part)
    assert total is not None
    return total


def add_rows(
    total: npt.NDArray[np.float64] | None, part: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The column sums of the rows summed so far (``total``; ``None`` before the
    first chunk) and the C-ordered chunk ``part``: the running total is summed
    as the chunk's first row, so chunk after chunk gives the sums of one call
    over the whole matrix bit for bit (see :func:`column_sums`)."""
    if total is None:
        return np.asarray(part.sum(axis=0), dtype=np.float64)
    return np.asarray(np.concatenate([total[None, :], part]).sum(axis=0), dtype=np.float64)


def _rows_source(
    X: FloatArray, rows: IndexArray | None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp] | None]:
    """``X`` and ``rows`` to read chunks from: a matrix that is not C-ordered is
    gathered once (NumPy sums it pairwise, so chunks would change the sums)."""
    X = np.asarray(X)
    if rows is None:
        return X, None
    if X.ndim != 2 or not X.flags.c_contiguous:
        return np.asarray(X[np.asarray(rows, dtype=np.intp)]), None
    return X, np.asarray(rows, dtype=np.intp)


def _rows_at(
    X: npt.NDArray[Any], rows: npt.NDArray[np.intp] | None, lo: int, hi: int
) -> npt.NDArray[Any]:
    """Rows ``lo:hi`` of ``X`` (or of ``X[rows]``), in ``X``'s dtype."""
    return X[lo:hi] if rows is None else X[rows[lo:hi]]


def _sum_step(X: npt.NDArray[Any], n_rows: int) -> int:
    """Rows per chunk of :func:`column_sums` (all rows where NumPy sums pairwise)."""
    if X.ndim != 2 or X.shape[1] < 2 or not X.flags.c_contiguous:
        return max(1, n_rows)
    return max(1, COLUMN_SUM_CELLS // int(X.shape[1]))


def column_means(X: FloatArray, rows: IndexArray | None = None) -> npt.NDArray[np.float64]:
    """Per-column means of ``X[rows]`` ignoring NaN (``np.nanmean``, bit for bit,
    without its whole-matrix copies); 0 for an all-NaN column (no warning)."""
    X, rows = _rows_source(X, rows)
    n_rows = X.shape[0] if rows is None else rows.size
    counts = np.zeros(X.shape[1], dtype=np.intp)
    step = _sum_step(X, n_rows)
    for lo in range(0, n_rows, step):
        counts += (~np.isnan(_rows_at(X, rows, lo, lo + step))).sum(axis=0, dtype=np.intp)
    totals = column_sums(X, lambda part: np.where(np.isnan(part), 0.0, part), rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = totals / counts
    return np.asarray(np.nan_to_num(means, nan=0.0), dtype=np.float64)


def column_stds(Z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``Z.std(axis=0)`` (population), bit for bit, without its whole-matrix
    temporary of squared deviations."""
    n = Z.shape[0]
    mean = column_sums(Z) / n
    return np.asarray(np.sqrt(column_sums(Z, lambda part: np.square(part - mean)) / n))


def impute(
    X: FloatArray, means: npt.NDArray[np.float64], rows: IndexArray | None = None
) -> npt.NDArray[np.float64]:
    """A float64 copy of ``X[rows]`` (all rows when ``None``) with NaN replaced by
    ``means`` (per column), filled a row chunk at a time: no float32 copy of the
    rows and no whole-matrix NaN mask."""
    X, picked = _rows_source(X, rows)
    if X.ndim != 2:  # not a matrix: one whole copy
        whole = np.array(X, dtype=np.float64)
        mask = np.isnan(whole)
        whole[mask] = np.broadcast_to(means, whole.shape)[mask]
        return whole
    n_rows = X.shape[0] if picked is None else picked.size
    out = np.empty((n_rows, X.shape[1]), dtype=np.float64)
    step = max(1, COLUMN_SUM_CELLS // max(1, int(X.shape[1])))
    for lo in range(0, n_rows, step):
        _fill_imputed(out[lo : lo + step], X, picked, lo, means)
    return out


def imputed_chunks(
    X: FloatArray, means: npt.NDArray[np.float64], rows: IndexArray | None = None
) -> Iterator[tuple[int, npt.NDArray[np.float64]]]:
    """``(lo, chunk)``: rows ``lo:lo + len(chunk)`` of ``impute(X, means, rows)``,
    in order, each C-ordered float64 with the values ``impute`` gives them.

    The chunks are those :func:`column_sums` reads from that (C-ordered) imputed
    matrix, so :func:`add_rows` over them gives its ``column_sums`` bit for bit
    without the matrix ever existing: ``COLUMN_SUM_CELLS`` cells a chunk, one
    chunk of every row for a single column (summed pairwise by NumPy). One
    buffer is reused: a chunk is valid until the next one is read, and the
    caller may overwrite it. ``X`` must be a matrix."""
    X, picked = _rows_source(X, rows)
    n_rows = X.shape[0] if picked is None else picked.size
    n_cols = int(X.shape[1])
    step = max(1, COLUMN_SUM_CELLS // n_cols) if n_cols >= 2 else max(1, n_rows)
    buffer = np.empty((min(step, n_rows), n_cols), dtype=np.float64)
    for lo in range(0, n_rows, step):
        part = buffer[: min(step, n_rows - lo)]
        _fill_imputed(part, X, picked, lo, means)
        yield lo, part


def _fill_imputed(
    part: npt.NDArray[np.float64],
    X: npt.NDArray[Any],
    rows: npt.NDArray[np.intp] | None,
    lo: int,
    means: npt.NDArray[np.float64],
) -> None:
    """Write rows ``lo:lo + len(part)`` of ``X`` (or of ``X[rows]``) into ``part``,
    NaN replaced by ``means``."""
    part[...] = _rows_at(X, rows, lo, lo + part.shape[0])
    mask = np.isnan(part)
    if mask.any():
        part[mask] = np.broadcast_to(means, part.shape)[mask]


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

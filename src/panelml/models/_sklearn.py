"""Helpers shared by the scikit-learn based families: NaN imputation and
pickle-free persistence with skops.

Imputation uses the training column means (all-NaN columns impute 0) and is
stored with the model, so prediction fills NaN the same way.

skops files are loaded only after checking that every type skops does not
trust by default is one this module expects (the tree structures of
scikit-learn's forests and histogram boosting); anything else is refused.
"""

from __future__ import annotations

import warnings
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


def column_means(X: FloatArray) -> npt.NDArray[np.float64]:
    """Per-column means ignoring NaN; 0 for an all-NaN column (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(np.asarray(X, dtype=np.float64), axis=0)
    return np.asarray(np.nan_to_num(means, nan=0.0), dtype=np.float64)


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

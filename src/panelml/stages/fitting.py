"""Cross-validated fitting shared by the ranking, selection and training stages.

One place decides which rows a target is fitted and scored on, how its purged
folds are planned (with the target's own horizon and the run's embargo), where
the early-stopping block lies, and how prepared (binned-once) feature matrices
are reused across targets and folds. Stages call these helpers instead of
looping over splits themselves, so every stage validates the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily, PreparedData, RowIndex, Task
from panelml.models.registry import get_family
from panelml.pipeline.errors import UserError
from panelml.validation.spec import ValidationConfig
from panelml.validation.splitters import (
    CombinatorialPurgedCV,
    inner_validation_split,
    make_splitter,
    resolve_embargo,
)
from panelml.validation.timestamps import subsample_rows

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Fold:
    """One outer split of a target's rows (all arrays are panel row indices).

    ``train`` is every training row kept after purge and embargo; ``fit`` is the
    part the model is fitted on and ``val`` the early-stopping block (``None``
    when the family does not stop early): ``val`` lies strictly after every
    ``fit`` row's label window (see ``inner_validation_split``). ``test`` is
    the scored block. ``cpcv`` only (else ``None``), aligned with ``test``:
    ``paths``, the backtest path each test row's prediction belongs to, and
    ``groups``, the test group (block of timestamps) of each test row.
    """

    index: int
    train: IntArray
    test: IntArray
    fit: IntArray
    val: IntArray | None
    paths: IntArray | None = None
    groups: IntArray | None = None

    def scored(self) -> Fold:
        """This fold as a fitted result keeps it: the test rows with their paths
        and groups, without the training rows (``train`` and ``fit`` empty, no
        ``val``), so that many targets' results do not hold every fold's
        training indices."""
        none = np.empty(0, dtype=np.int64)
        return replace(self, train=none, fit=none, val=None)


def target_rows(
    panel: Panel,
    target: str,
    *,
    max_rows_per_timestamp: int | None = None,
    timestamp_stride: int = 1,
    seed: int = 0,
) -> IntArray:
    """Rows where ``target`` is known, optionally thinned for large panels.

    Thinning keeps every ``timestamp_stride``-th timestamp and at most
    ``max_rows_per_timestamp`` random (seeded) rows per timestamp.
    """
    known = np.flatnonzero(np.isfinite(panel.targets[target])).astype(np.int64)
    if max_rows_per_timestamp is None and timestamp_stride == 1:
        return known
    kept = subsample_rows(
        panel.timestamps[known],
        max_rows_per_timestamp=max_rows_per_timestamp,
        timestamp_stride=timestamp_stride,
        seed=seed,
    )
    return known[kept]


def plan_folds(
    panel: Panel,
    target: str,
    validation: ValidationConfig,
    rows: IntArray,
    *,
    early_stopping: bool = False,
    early_stopping_fraction: float = 0.2,
) -> list[Fold]:
    """Purged folds of ``rows`` for ``target`` as the ``validation:`` section asks.

    Folds are planned on the panel's own bars (all of its unique timestamps), then
    restricted to ``rows``. So horizon and embargo always count real bars, also
    when ``rows`` skip timestamps (a target missing mid-panel, a symbol with gaps
    in per-symbol scope, rows thinned to every ``timestamp_stride``-th
    timestamp): purging is never shortened by a gap. A fold left with no
    training or no test rows is dropped. Under ``cpcv`` each fold is one split
    and carries the backtest path of each test row (``Fold.paths``).
    """
    codes = panel.timestamp_index
    n_timestamps = panel.n_timestamps
    horizon = panel.horizons[target]
    embargo = resolve_embargo(validation, n_timestamps)
    splitter = make_splitter(validation, horizon, n_timestamps)
    row_codes = codes[rows]
    path_of: list[IntArray] | None = None
    group_of: IntArray | None = None
    if isinstance(splitter, CombinatorialPurgedCV):
        path_of, group_of = splitter.test_paths(n_timestamps), splitter.groups(n_timestamps)
    folds: list[Fold] = []
    for split, (train_ts, test_ts) in enumerate(splitter.timestamp_splits(n_timestamps)):
        in_train = np.zeros(n_timestamps, dtype=bool)
        in_train[train_ts] = True
        in_test = np.zeros(n_timestamps, dtype=bool)
        in_test[test_ts] = True
        train = rows[in_train[row_codes]]
        test = rows[in_test[row_codes]]
        if train.size == 0 or test.size == 0:
            continue
        fit, val = train, None
        if early_stopping:
            fit, val = inner_validation_split(
                train, panel.timestamps, horizon, early_stopping_fraction, embargo
            )
        paths = groups = None
        if path_of is not None and group_of is not None:
            paths, groups = path_of[split][codes[test]], group_of[codes[test]]
        folds.append(Fold(len(folds), train, test, fit, val, paths, groups))
    if not folds:
        raise ValueError(
            f"no fold of target {target!r} has both training and test rows "
            f"({rows.size} rows on {np.unique(row_codes).size} of {n_timestamps} timestamps)"
        )
    return folds


def runtime_params(
    family: str | type[ModelFamily],
    user: Mapping[str, Any],
    *,
    n_jobs: int,
    deterministic: bool,
) -> dict[str, Any]:
    """Thread and reproducibility settings every stage applies to a family's params.

    What they are is the family's own declaration
    (:meth:`ModelFamily.runtime_params`), so a third-party family gets thread
    control too; ``family`` is the class, or a name resolved through the model
    registry (a name it does not know, such as that of a family loaded by dotted
    path, gets no settings: pass the class). Keys the user set in ``user`` are
    left alone. Returns the settings to merge over ``user``.
    """
    if isinstance(family, str):
        try:
            family = get_family(family, allow_dotted=False)
        except UserError:
            return {}
    out = family.runtime_params(n_jobs, deterministic, user)
    return {key: value for key, value in out.items() if key not in user}


@dataclass(frozen=True)
class FamilySpec:
    """A model family as a stage fits it: the name the config gave, the class it
    resolved to, and the params every fit gets (:func:`merge_family_params`)."""

    name: str
    cls: type[ModelFamily]
    params: dict[str, Any]

    @property
    def early_stopping(self) -> bool:
        """Whether the family stops early on a validation block (its declaration)."""
        return bool(self.cls.supports_early_stopping)

    @property
    def rounds_key(self) -> str:
        """The param that sets the number of boosting rounds of this family."""
        defaults = self.cls.default_params
        if "n_estimators" not in defaults and "max_iter" in defaults:
            return "max_iter"
        return "n_estimators"


def merge_family_params(
    family: type[ModelFamily],
    user: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    n_jobs: int,
    deterministic: bool,
) -> dict[str, Any]:
    """The one way a stage's params for a family are merged.

    The stage's own defaults for the family, then the user's ``family_params``
    (which win), then the runtime settings the family declares
    (:func:`runtime_params`) for the keys the user did not set.
    """
    params = {**(defaults or {}), **user}
    params.update(runtime_params(family, user, n_jobs=n_jobs, deterministic=deterministic))
    return params


def model_label(panel: Panel, target: str, demean: bool) -> FloatArray:
    """The label models learn: the target, cross-sectionally demeaned when asked.

    Demeaning subtracts each timestamp's mean of the known values. It removes the
    component common to all symbols (the market move), which no cross-sectional
    ranking can use and which otherwise dominates the squared loss and the
    early-stopping signal. Per-timestamp rank IC is unchanged by it. It uses only
    labels of the same timestamp, and folds never split a timestamp, so no
    information crosses a fold boundary.
    """
    y = panel.targets[target]
    if not demean:
        return y
    known = np.isfinite(y)
    codes = panel.timestamp_index
    n = panel.n_timestamps
    sums = np.bincount(codes[known], weights=y[known], minlength=n)
    counts = np.bincount(codes[known], minlength=n)
    means = np.divide(sums, counts, out=np.zeros(n), where=counts > 0)
    return np.where(known, y - means[codes], np.nan)


class PreparedCache:
    """Prepared feature matrices, built once per (family, feature set).

    Many targets share one feature set, so binning (LightGBM/XGBoost) happens
    once for all of them and their folds; a target with its own exclusions gets
    its own entry.
    """

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self._entries: dict[tuple[str, tuple[int, ...]], PreparedData] = {}

    def get(
        self,
        family: type[ModelFamily],
        features: Sequence[str],
        params: Mapping[str, Any] | None = None,
    ) -> PreparedData:
        """The prepared matrix of ``features`` for ``family`` (built on first use)."""
        columns = tuple(int(i) for i in self.panel.feature_indices(list(features)))
        key = (family.name, columns)
        if key not in self._entries:
            X = (
                self.panel.X
                if columns == tuple(range(self.panel.n_features))
                else self.panel.feature_matrix(list(features))
            )
            self._entries[key] = (
                family.prepare_indexed(X, row_index(self.panel), params)
                if family.needs_row_index
                else family.prepare(X, params)
            )
        return self._entries[key]

    def drop(self, family: type[ModelFamily]) -> bool:
        """Forget ``family``'s prepared matrices (built again if asked for later);
        whether there were any."""
        keys = [key for key in self._entries if key[0] == family.name]
        for key in keys:
            del self._entries[key]
        return bool(keys)


def row_index(panel: Panel) -> RowIndex:
    """Each panel row's symbol and timestamp code, for families that declare
    ``needs_row_index`` (a sequence model reads each symbol's earlier rows)."""
    return RowIndex(
        panel.symbol_codes.astype(np.int64), panel.timestamp_index, tuple(panel.symbols)
    )


@dataclass
class FoldFit:
    """A model fitted on one fold and its predictions on the fold's test rows."""

    fold: Fold
    model: ModelFamily
    predictions: FloatArray


def fit_folds(
    family: type[ModelFamily],
    task: Task,
    params: Mapping[str, Any] | None,
    prepared: PreparedData,
    y: FloatArray,
    folds: Sequence[Fold],
    *,
    seed: int,
) -> list[FoldFit]:
    """Fit ``family`` on every fold's fit rows (early stopping on ``val``) and
    predict its test rows. ``y`` is the full-length label vector of the panel."""
    fits: list[FoldFit] = []
    for fold in folds:
        model = family(task, params)
        model.fit_prepared(prepared, fold.fit, y, eval_rows=fold.val, seed=seed)
        fits.append(FoldFit(fold, model, model.predict_prepared(prepared, fold.test)))
    return fits


def fit_folds_many(
    family: type[ModelFamily],
    task: Task,
    params: Mapping[str, Any] | None,
    prepared: PreparedData,
    Y: FloatArray,
    folds: Sequence[Fold],
    *,
    seed: int,
) -> list[list[FoldFit]]:
    """Like :func:`fit_folds` for several targets that share rows and folds
    (same horizon, same known rows): one ``fit_many`` solve per fold, which
    linear families do in a single factorisation. ``Y`` is full-length.
    Returns one list per column of ``Y``."""
    per_target: list[list[FoldFit]] = [[] for _ in range(Y.shape[1])]
    for fold in folds:
        models = family.fit_many_prepared(
            prepared, fold.fit, Y, task=task, params=params, seed=seed
        )
        X_test = prepared.rows(fold.test)
        for j, model in enumerate(models):
            per_target[j].append(FoldFit(fold, model, model.predict(X_test)))
    return per_target


def oof_vector(n_rows: int, fits: Sequence[FoldFit]) -> FloatArray:
    """Full-length out-of-fold prediction vector (NaN where a row was never tested).

    Under ``cpcv`` a row is tested on every backtest path; its value is then the
    mean of its path predictions (:func:`path_mean`).
    """
    if any(fit.fold.paths is not None for fit in fits):
        return path_mean(n_rows, [(fit.fold.test, fit.predictions) for fit in fits])
    out = np.full(n_rows, np.nan)
    for fit in fits:
        out[fit.fold.test] = fit.predictions
    return out


def path_mean(n_rows: int, tested: Sequence[tuple[IntArray, FloatArray]]) -> FloatArray:
    """Per row, the mean of the predictions made for it (NaN where none was).

    ``tested`` holds (rows, predictions) of each split. Under ``cpcv`` every split
    that tests a row puts it on a different backtest path, so this is the row's
    mean over the paths; each term comes from a model that never saw its label
    window, so the mean is out-of-sample too.
    """
    total = np.zeros(n_rows)
    count = np.zeros(n_rows)
    for rows, predictions in tested:
        np.add.at(total, rows, predictions)
        np.add.at(count, rows, 1.0)
    out: FloatArray = np.divide(total, count, out=np.full(n_rows, np.nan), where=count > 0)
    return out

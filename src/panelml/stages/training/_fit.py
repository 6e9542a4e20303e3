"""Cross-validated fitting and final models for the training stage.

One *unit* is the set of rows one model is responsible for: all known rows of
a target (``scope: pooled``) or one symbol's known rows (``scope:
per_symbol``). For every unit and model family this module

1. plans purged folds with :func:`panelml.stages.fitting.plan_folds` (the
   target's horizon, the run's embargo; for families that stop early the
   validation block lies strictly after every fitted row's label window plus
   the embargo, see :func:`panelml.validation.inner_validation_split`);
2. fits one model per fold (seeded per target, family, fold) and predicts the
   fold's test rows, giving out-of-fold predictions;
3. fits the final model on every known row of the unit.

:func:`fit_unit` runs the three steps for one unit; each step is also a function
of its own (:func:`begin_unit`, :func:`fit_fold`, :func:`final_params` with
:func:`fit_final`, :func:`record_final`), so the stage can run a pooled unit's
folds and final model as separate executor tasks (``_tasks``) with the same
results.

Number of boosting rounds of the final model: the median of the folds' best
iterations (early-stopping families), not scaled for the larger training set.
The median is robust to one fold that stopped very early or ran to the cap;
scaling by the training-set ratio (a common heuristic) assumes the optimal
number of rounds grows linearly with rows, which does not hold for the
low-signal targets this library is for. Families without early stopping use
their configured number of iterations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.models.base import ModelFamily, PreparedData, Task
from panelml.pipeline.errors import UserError
from panelml.stages.fitting import FamilySpec, Fold, PreparedCache, fit_folds, plan_folds
from panelml.stages.training._folds import record_folds, record_prediction
from panelml.stages.training._metrics import median_iteration
from panelml.validation.spec import ValidationConfig

if TYPE_CHECKING:
    from panelml.stages.training._tuner import StageTuner, TunedUnit

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
SeedFn = Callable[[str, int | str], int]

IMPORTANCE_SAMPLE = 2_000
"""Rows (evenly spaced) passed to importance kinds computed from data (``shap``)."""


class TrainingError(UserError):
    """The training stage cannot do what its params or the data ask."""


@dataclass
class FinalFit:
    """The final model(s) of one (target, family)."""

    params: dict[str, Any]
    model: ModelFamily | None = None
    by_symbol: dict[str, ModelFamily] = field(default_factory=dict)
    rounds: dict[str, int | None] = field(default_factory=dict)  # unit key -> rounds
    n_train: int = 0
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit key -> tuning record


@dataclass
class TargetFit:
    """Everything the stage learnt about one target (all units together)."""

    n_rows: int
    fold_of_row: IntArray  # full length; fold index that tested the row, -1 if none
    oof: dict[str, FloatArray]  # family -> full-length OOF predictions (NaN if untested)
    label: FloatArray  # what the models learn (see fitting.model_label)
    fold_n_train: dict[int, int] = field(default_factory=dict)
    best_iterations: dict[str, dict[int, list[int | None]]] = field(default_factory=dict)
    finals: dict[str, FinalFit] = field(default_factory=dict)
    folds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # unit -> records
    skipped: dict[str, str] = field(default_factory=dict)  # symbol -> reason
    trained_rows: list[IntArray] = field(default_factory=list)
    paths: dict[str, FloatArray] = field(default_factory=dict)  # cpcv: (n_paths, n_rows)
    n_paths: int = 0  # cpcv: backtest paths (see _folds)


def segments(indices: npt.ArrayLike) -> list[list[int]]:
    """Sorted unique ints as inclusive ``[first, last]`` runs (for compact records)."""
    values = np.unique(np.asarray(indices, dtype=np.int64))
    if values.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = np.concatenate(([values[0]], values[breaks + 1]))
    ends = np.concatenate((values[breaks], [values[-1]]))
    return [[int(a), int(b)] for a, b in zip(starts, ends, strict=True)]


def fold_record(panel: Panel, fold: Fold) -> dict[str, Any]:
    """The fold's rows as runs of panel timestamp indices (``panel.timestamp_index``)."""
    codes = panel.timestamp_index
    return {
        "fold": fold.index,
        "train": segments(codes[fold.train]),
        "fit": segments(codes[fold.fit]),
        "val": segments(codes[fold.val]) if fold.val is not None else [],
        "test": segments(codes[fold.test]),
        "n_train": int(fold.train.size),
        "n_test": int(fold.test.size),
    }


def plan_unit(
    panel: Panel,
    target: str,
    validation: ValidationConfig,
    rows: IntArray,
    *,
    early_stopping: bool,
    early_stopping_fraction: float,
) -> list[Fold]:
    """The purged folds of one unit; a user error says what to change when none fit."""
    try:
        return plan_folds(
            panel,
            target,
            validation,
            rows,
            early_stopping=early_stopping,
            early_stopping_fraction=early_stopping_fraction,
        )
    except ValueError as exc:
        raise TrainingError(
            f"training: cannot plan {validation.scheme} folds for target {target!r} on "
            f"{rows.size} rows ({exc}); lower validation.n_splits or validation.embargo, "
            "or use more timestamps"
        ) from None


def begin_unit(
    panel: Panel, rows: IntArray, folds: Sequence[Fold], result: TargetFit, *, unit: str
) -> None:
    """Record one unit's folds and trained rows into ``result`` (before its predictions)."""
    result.folds[unit] = [fold_record(panel, f) for f in folds]
    result.trained_rows.append(rows)
    record_folds(result, folds)


@dataclass
class FoldOutcome:
    """One fold model's test predictions and best iteration (None: no early stopping)."""

    predictions: FloatArray
    best_iteration: int | None


def fit_fold(
    spec: FamilySpec,
    task: Task,
    prepared: PreparedData,
    y: FloatArray,
    fold: Fold,
    *,
    seed: int,
    params: dict[str, Any] | None = None,
) -> FoldOutcome:
    """Fit one fold's model (``params``: the family's unless given) and predict its
    test rows; families that do not stop early fit every training row of the fold."""
    used = fold if spec.early_stopping else dataclasses.replace(fold, fit=fold.train, val=None)
    fold_params = spec.params if params is None else params
    (fitted,) = fit_folds(spec.cls, task, fold_params, prepared, y, [used], seed=seed)
    return FoldOutcome(fitted.predictions, fitted.model.best_iteration)


def final_params(
    spec: FamilySpec, best: Sequence[int | None], tuned: TunedUnit | None = None
) -> tuple[dict[str, Any], int | None]:
    """The final model's (params, rounds): rounds are the median of the folds' best
    iterations for families that stop early (a tuned family's come from its own
    study on all rows when it has them), else None and the configured count."""
    rounds = median_iteration(best) if spec.early_stopping else None
    params = dict(spec.params)
    if tuned is not None:
        # the final model's params and rounds come from its own study on all rows
        params.update(tuned.final_params)
        if spec.early_stopping and median_iteration(tuned.final_iterations) is not None:
            rounds = median_iteration(tuned.final_iterations)
    if rounds is not None:
        params[spec.rounds_key] = rounds
    return params, rounds


def fit_final(
    spec: FamilySpec,
    task: Task,
    prepared: PreparedData,
    rows: IntArray,
    y: FloatArray,
    params: dict[str, Any],
    *,
    seed: int,
) -> ModelFamily:
    """The final model of one unit: fitted on all its ``rows`` with ``params``."""
    final = spec.cls(task, params)
    final.fit_prepared(prepared, rows, y, seed=seed)
    return final


def record_final(
    result: TargetFit,
    spec: FamilySpec,
    final: ModelFamily,
    params: dict[str, Any],
    rounds: int | None,
    n_rows: int,
    *,
    unit: str,
    tuning: dict[str, Any] | None = None,
) -> None:
    """Record one unit's final model of ``spec`` (its rounds, rows and tuning record)."""
    entry = result.finals.setdefault(spec.name, FinalFit(params=dict(spec.params)))
    entry.rounds[unit] = rounds
    entry.n_train += int(n_rows)
    if tuning is not None:
        entry.tuning[unit] = tuning
    if unit:
        entry.by_symbol[unit] = final
    else:
        entry.model, entry.params = final, params


def fit_unit(
    panel: Panel,
    target: str,
    rows: IntArray,
    folds: Sequence[Fold],
    families: Sequence[FamilySpec],
    cache: PreparedCache,
    features: Sequence[str],
    result: TargetFit,
    *,
    unit: str,
    seed: Callable[[str, int | str], int],
    tuner: StageTuner | None = None,
) -> None:
    """Fit every family on every fold of one unit, then its final model; record into
    ``result`` (``unit`` is ``""`` for the pooled model, else the symbol). Families
    that ``tuner`` tunes fit each outer fold with the params chosen on that fold's
    training rows, and the final model with those chosen on all rows. (The pooled
    untuned case also runs as separate fold and final tasks, see ``_tasks``; both
    use the steps below, so they give the same models.)"""
    task: Task = panel.target_kinds[target]
    y = result.label
    begin_unit(panel, rows, folds, result, unit=unit)
    for spec in families:
        prepared = cache.get(spec.cls, features, spec.params)
        tuned = None
        if tuner is not None and tuner.tunes(spec.name):
            tuned = tuner.tune(
                target,
                spec.name,
                spec.cls,
                spec.params,
                prepared=prepared,
                y=y,
                early_stopping=spec.early_stopping,
                rows=rows,
                folds=folds,
                unit=unit,
            )
        best: list[int | None] = []
        for fold in folds:
            fold_params = spec.params
            if tuned is not None:
                fold_params = {**spec.params, **tuned.fold_params.get(fold.index, {})}
            outcome = fit_fold(
                spec, task, prepared, y, fold, params=fold_params, seed=seed(spec.name, fold.index)
            )
            best.append(outcome.best_iteration)
            record_prediction(result, spec.name, fold, outcome.predictions, best[-1])
        params, rounds = final_params(spec, best, tuned)
        final = fit_final(spec, task, prepared, rows, y, params, seed=seed(spec.name, "final"))
        record = tuned.record if tuned is not None else None
        record_final(result, spec, final, params, rounds, rows.size, unit=unit, tuning=record)


def new_target_fit(panel: Panel, families: Sequence[FamilySpec], label: FloatArray) -> TargetFit:
    n = panel.n_rows
    return TargetFit(
        n_rows=n,
        fold_of_row=np.full(n, -1, dtype=np.int64),
        oof={spec.name: np.full(n, np.nan) for spec in families},
        label=label,
    )


def normalised_importance(
    model: ModelFamily, X: npt.NDArray[np.float32], rows: IntArray
) -> FloatArray | None:
    """The model's first importance kind, normalised to sum 1 (None if it has none)."""
    kinds = type(model).importance_kinds
    if not kinds:
        return None
    sample = None
    if kinds[0] == "shap":
        step = max(1, rows.size // IMPORTANCE_SAMPLE)
        sample = X[rows[::step]]
    values = np.asarray(model.importance(kinds[0], X=sample), dtype=np.float64)
    total = float(values.sum())
    return values / total if total > 0 else np.zeros_like(values)


def unit_rows(
    panel: Panel, rows: IntArray, min_rows: int
) -> tuple[dict[str, IntArray], dict[str, str]]:
    """Per-symbol known rows: those with at least ``min_rows`` rows, and the skipped ones."""
    codes = panel.symbol_codes[rows]
    kept: dict[str, IntArray] = {}
    skipped: dict[str, str] = {}
    for code in np.unique(codes):
        name = panel.symbols[int(code)]
        mine = rows[codes == code]
        if mine.size < min_rows:
            skipped[name] = f"{mine.size} known rows < min_rows_per_symbol={min_rows}"
        else:
            kept[name] = mine
    return kept, skipped

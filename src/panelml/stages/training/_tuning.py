"""Nested, resumable hyper-parameter tuning with Optuna for the training stage.

Honesty: a study only ever sees the rows it is given. The training stage runs
one study per outer fold on that fold's *training* rows (already purged and
embargoed against the outer test block) and one study on all of the unit's
rows for the final model. Inside a study every trial is scored on *inner*
folds planned over those rows alone: purged k-fold (walk-forward when the
outer scheme is walk-forward) over the unique timestamps of the rows, with the
target's horizon and the run's embargo, and early stopping on a block after
every inner fit row's label window (:func:`inner_validation_split`). The outer
test rows are never fitted, stopped on or scored while choosing parameters, so
outer out-of-fold metrics stay out-of-sample. Inner folds count bars on the
rows' own timestamps: across the gap an outer test block leaves they purge
more than needed, never less.

Score: the mean over inner folds of the mean per-timestamp rank IC (the
metric the stage reports; for binary targets the rank IC of the probability
with the 0/1 label); a fold whose IC is undefined (constant predictions)
scores 0. Pruning: after each inner fold the running mean is reported and
Optuna's ``MedianPruner`` stops trials below the median of earlier trials at
the same step. Every trial fits on one prepared (binned once) matrix: no
re-binning across trials or folds (bin-once reuse).

Storage and resume: studies live in one SQLite file per (target, family)
through Optuna's RDB storage. A study records a fingerprint of what it tunes
(family, base params, space, inner folds' rows, labels, seeds); rerunning with
the same fingerprint continues the study (trials already finished count
toward ``n_trials``), a different fingerprint starts it afresh.
Determinism: the TPE sampler is seeded (and reseeded by the number of trials
already stored, so a resumed study does not redraw the same start points) and
trials run one at a time; with ``timeout_s`` the number of trials depends on
the machine's speed.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models.base import ModelFamily, ModelParamsError, PreparedData, Task
from panelml.pipeline.errors import UserError
from panelml.stages.fitting import Fold
from panelml.stages.training._tuning_space import ParamRange, TuningSpec, suggest_params
from panelml.validation.metrics import ic_series
from panelml.validation.splitters import PurgedKFold, WalkForward, inner_validation_split

__all__ = [
    "StudyOutcome",
    "TuningJob",
    "inner_folds",
    "load_optuna",
    "resumable_copy",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FINAL = "final"
"""Slot name of the study that tunes the final model (all of the unit's rows)."""
RESUME_SEED_STEP = 1_000_003
"""Sampler seed offset per stored trial: a resumed study draws new start points."""
PRUNER_STARTUP_TRIALS = 3
"""Trials that finish before the median pruner may stop any trial."""


class TuningError(UserError):
    """Tuning cannot do what ``training.tuning`` asks."""


def load_optuna() -> Any:
    """The optuna module; a :class:`UserError` naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise TuningError(
            "training.tuning needs optuna, which is not installed: "
            "pip install 'panelml[optuna]' or remove training.tuning"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def inner_folds(
    rows: IntArray,
    codes: IntArray,
    *,
    horizon: int,
    embargo: int,
    n_splits: int,
    scheme: str,
    early_stopping: bool,
    early_stopping_fraction: float,
) -> list[Fold]:
    """Purged folds over ``rows`` alone (panel row indices; ``codes`` are the panel's
    timestamp codes). Blocks are cut on the unique timestamps of ``rows``; a fold
    with no training or test rows is dropped; a ``TuningError`` when none is left."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    uniq, pos = np.unique(codes[rows], return_inverse=True)
    splitter: PurgedKFold | WalkForward
    if scheme == "walk_forward":
        splitter = WalkForward(n_splits=n_splits, horizon=horizon, embargo=embargo)
    else:
        splitter = PurgedKFold(n_splits=n_splits, horizon=horizon, embargo=embargo)
    try:
        plan = splitter.timestamp_splits(int(uniq.size))
    except ValueError as exc:
        raise TuningError(
            f"training.tuning: cannot plan {n_splits} inner folds on {uniq.size} timestamps "
            f"({exc}); lower training.tuning.<family>.inner_splits or validation.n_splits"
        ) from None
    folds: list[Fold] = []
    for train_ts, test_ts in plan:
        in_train = np.zeros(uniq.size, dtype=bool)
        in_train[train_ts] = True
        in_test = np.zeros(uniq.size, dtype=bool)
        in_test[test_ts] = True
        train, test = rows[in_train[pos]], rows[in_test[pos]]
        if train.size == 0 or test.size == 0:
            continue
        fit, val = train, None
        if early_stopping:
            try:
                fit, val = inner_validation_split(
                    train, codes, horizon, early_stopping_fraction, embargo
                )
            except ValueError:
                continue
        folds.append(Fold(index=len(folds), train=train, test=test, fit=fit, val=val))
    if not folds:
        raise TuningError(
            f"training.tuning: no inner fold has fit and test rows on {uniq.size} timestamps; "
            "lower inner_splits, validation.embargo or early_stopping_fraction"
        )
    return folds


def mean_ic(pred: FloatArray, y: FloatArray, codes: IntArray, min_names: int) -> float:
    """Mean per-timestamp rank IC; 0.0 when no timestamp defines one (constant predictions)."""
    values = ic_series(pred, y, codes, method="rank", min_names=min_names).values
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else 0.0


@dataclass
class StudyOutcome:
    """One study's result: the chosen params (empty: no trial finished, defaults kept)."""

    slot: int | str
    params: dict[str, Any]
    value: float
    best_iterations: list[int | None]
    n_new: int
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TuningJob:
    """Everything needed to tune one family for one target (one storage file).

    ``prepared`` is the binned-once matrix every trial fits on; ``y`` the
    full-length label; ``codes`` the panel's per-row timestamp codes; ``seed``
    maps a purpose (slot, role) to a seed; ``storage_path`` ``None`` keeps the
    studies in memory.
    """

    family: type[ModelFamily]
    family_name: str
    task: Task
    base_params: Mapping[str, Any]
    spec: TuningSpec
    space: Mapping[str, ParamRange]
    prepared: PreparedData
    y: FloatArray
    codes: IntArray
    horizon: int
    embargo: int
    scheme: str
    early_stopping: bool
    early_stopping_fraction: float
    min_names: int
    seed: Callable[[str, str], int]
    storage_path: Path | None = None
    warn: Callable[[str], None] = print
    _storage: Any = None

    def storage(self) -> Any:
        """Optuna's storage: SQLite at ``storage_path`` (created on first use), else memory."""
        optuna = load_optuna()
        if self._storage is None:
            if self.storage_path is None:
                self._storage = optuna.storages.InMemoryStorage()
            else:
                self.storage_path.parent.mkdir(parents=True, exist_ok=True)
                self._storage = optuna.storages.RDBStorage(
                    f"sqlite:///{self.storage_path.resolve()}"
                )
        return self._storage

    def close(self) -> None:
        """Release the storage (SQLite connections); a later study reopens it."""
        engine = getattr(self._storage, "engine", None)
        if engine is not None:
            engine.dispose()
        self._storage = None

    def fingerprint(self, rows: IntArray, folds: Sequence[Fold], slot: str) -> str:
        """Digest of everything a study's trials depend on (not ``n_trials``/``timeout_s``)."""
        h = hashlib.sha256()
        doc = {
            "family": self.family_name,
            "task": self.task,
            "params": self.base_params,
            "space": {k: v.describe() for k, v in self.space.items()},
            "inner_splits": self.spec.inner_splits,
            "pruner": self.spec.pruner,
            "min_names": self.min_names,
            "seed": self.seed(slot, "fit"),
        }
        h.update(json.dumps(doc, sort_keys=True, default=str).encode())
        for fold in folds:
            for part in (fold.fit, fold.test, fold.val):
                if part is not None:
                    h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.y[rows]).tobytes())
        h.update(np.ascontiguousarray(self.prepared.X[rows[:: max(1, rows.size // 64)]]).tobytes())
        return h.hexdigest()[:32]

    def run(self, slot: int | str, rows: IntArray, unit: str = "") -> StudyOutcome:
        """Tune on ``rows`` only (an outer fold's training rows, or every row for
        the final model): create or resume the study, run the missing trials, and
        return the best trial's params."""
        optuna = load_optuna()
        slot_name = f"fold{slot}" if isinstance(slot, int) else str(slot)
        folds = inner_folds(
            rows,
            self.codes,
            horizon=self.horizon,
            embargo=self.embargo,
            n_splits=self.spec.inner_splits,
            scheme=self.scheme,
            early_stopping=self.early_stopping,
            early_stopping_fraction=self.early_stopping_fraction,
        )
        name = f"{unit or 'pooled'}/{slot_name}"
        fingerprint = self.fingerprint(rows, folds, slot_name)
        storage = self.storage()
        study = self._load(optuna, storage, name, fingerprint, slot_name)
        done = [t for t in study.trials if t.state.is_finished()]
        counted = [t for t in done if t.state.name in ("COMPLETE", "PRUNED")]
        remaining = self.spec.n_trials - len(counted)
        if counted and remaining > 0:
            self.warn(
                f"training.tuning: {self.family_name} study {name!r} resumes after "
                f"{len(counted)} of {self.spec.n_trials} trials"
            )
        if remaining > 0:
            fit_seed = self.seed(slot_name, "fit")
            study.optimize(
                self._objective(optuna, folds, fit_seed),
                n_trials=remaining,
                timeout=self.spec.timeout_s,
                n_jobs=1,
                gc_after_trial=False,
                show_progress_bar=False,
            )
        return self._outcome(study, slot, max(remaining, 0))

    def _load(self, optuna: Any, storage: Any, name: str, fingerprint: str, slot: str) -> Any:
        """The study ``name`` (reset when its fingerprint differs) with a seeded sampler."""
        n_before = 0
        if name in optuna.get_all_study_names(storage):
            previous = optuna.load_study(study_name=name, storage=storage)
            if previous.user_attrs.get("fingerprint") != fingerprint:
                self.warn(
                    f"training.tuning: {self.family_name} study {name!r} was made for other "
                    "data, params or space; starting it afresh"
                )
                optuna.delete_study(study_name=name, storage=storage)
            else:
                n_before = len(previous.trials)
        seed = (self.seed(slot, "sampler") + RESUME_SEED_STEP * n_before) % 2**32
        sampler = optuna.samplers.TPESampler(seed=seed)
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0)
            if self.spec.pruner == "median"
            else optuna.pruners.NopPruner()
        )
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        study.set_user_attr("fingerprint", fingerprint)
        return study

    def _objective(
        self, optuna: Any, folds: Sequence[Fold], fit_seed: int
    ) -> Callable[[Any], float]:
        X = self.prepared.X

        def objective(trial: Any) -> float:
            params = suggest_params(trial, self.space)
            trial.set_user_attr("params", params)
            merged = {**self.base_params, **params}
            scores: list[float] = []
            best: list[int | None] = []
            for step, fold in enumerate(folds):
                model = self.family(self.task, merged)
                try:
                    model.fit_prepared(
                        self.prepared, fold.fit, self.y, eval_rows=fold.val, seed=fit_seed
                    )
                except ModelParamsError as exc:
                    raise TuningError(
                        f"training.tuning.{self.family_name}: trial params {params} were "
                        f"rejected ({exc}); fix training.tuning.{self.family_name}.space"
                    ) from None
                pred = model.predict(X[fold.test])
                scores.append(
                    mean_ic(pred, self.y[fold.test], self.codes[fold.test], self.min_names)
                )
                best.append(model.best_iteration)
                trial.set_user_attr("inner_ics", list(scores))
                trial.set_user_attr("best_iterations", list(best))
                trial.report(float(np.mean(scores)), step)
                if step + 1 < len(folds) and trial.should_prune():
                    raise optuna.TrialPruned()
            return float(np.mean(scores))

        return objective

    def _outcome(self, study: Any, slot: int | str, n_new: int) -> StudyOutcome:
        records = [self._record(t, slot) for t in study.trials]
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        if not complete:
            self.warn(
                f"training.tuning: no {self.family_name} trial finished in study "
                f"{study.study_name!r}; the configured params are used"
            )
            return StudyOutcome(slot, {}, math.nan, [], n_new, records)
        best = max(complete, key=lambda t: (float(t.value), -t.number))
        iterations = list(best.user_attrs.get("best_iterations", []))
        params = dict(best.user_attrs.get("params", best.params))
        return StudyOutcome(slot, params, float(best.value), iterations, n_new, records)

    def _record(self, trial: Any, slot: int | str) -> dict[str, Any]:
        duration = trial.duration.total_seconds() if trial.duration is not None else math.nan
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        return {
            "fold": slot if isinstance(slot, int) else -1,
            "trial": int(trial.number),
            "state": str(trial.state.name),
            "value": math.nan if value is None else float(value),
            "n_inner_scored": len(trial.intermediate_values),
            "duration_s": float(duration),
            "params": json.dumps(
                trial.user_attrs.get("params", trial.params), sort_keys=True, default=str
            ),
        }


def resumable_copy(target: Path, runs_root: Path) -> Path | None:
    """Seed ``target`` (a study file in this run) from the newest sibling run's copy.

    An interrupted run is resumed by rerunning its command, which makes a new
    run folder; the studies of the newest earlier run that has the same file
    are copied in, and each study's fingerprint decides whether it continues
    or starts afresh. Returns the copied source, or ``None``.
    """
    if target.exists():
        return None
    run_dir = target
    while run_dir.parent != runs_root and run_dir.parent != run_dir:
        run_dir = run_dir.parent
    relative = target.relative_to(run_dir)
    candidates = [
        p / relative
        for p in runs_root.iterdir()
        if p.is_dir() and p != run_dir and (p / relative).is_file()
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda p: p.stat().st_mtime)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(newest, target)
    return newest

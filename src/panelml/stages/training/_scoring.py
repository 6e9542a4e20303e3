"""Out-of-fold scoring of a trained target: per-fold and summary metrics rows for each
family and the rank-average ensemble."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.data.panel import Panel
from panelml.stages.fitting import FamilySpec
from panelml.stages.training._fit import TargetFit
from panelml.stages.training._metrics import (
    median_iteration,
    score,
)
from panelml.stages.training._result import (
    ENSEMBLE,
    ensemble_scores,
)
from panelml.validation.significance import Scheme
from panelml.validation.spec import ValidationConfig

__all__ = ["metric_rows"]


def metric_rows(
    panel: Panel,
    target: str,
    fit: TargetFit,
    families: list[FamilySpec],
    validation: ValidationConfig,
) -> list[dict[str, Any]]:
    """The metrics rows of ``target``: one per (family or ensemble, fold) and one
    summary row (fold -1) over every out-of-fold row."""
    y = fit.label
    kind = panel.target_kinds[target]
    horizon = panel.horizons[target]
    tested = fit.fold_of_row >= 0
    predictions = {spec.name: fit.oof[spec.name] for spec in families}
    predictions[ENSEMBLE] = ensemble_scores(panel, fit, families)
    n_trained = int(sum(r.size for r in fit.trained_rows))
    rows: list[dict[str, Any]] = []
    for name, pred in predictions.items():
        is_ensemble = name == ENSEMBLE
        best = fit.best_iterations.get(name, {})
        behind = tuple(f.name for f in families) if is_ensemble else (name,)

        def scored(
            test: npt.NDArray[np.intp],
            scheme: Scheme = "single_split",
            pred: npt.NDArray[np.float64] = pred,
            ens: bool = is_ensemble,
            behind: tuple[str, ...] = behind,
        ) -> dict[str, Any]:
            return score(
                pred[test],
                y[test],
                panel.timestamps[test],
                kind=kind,
                horizon=horizon,
                min_names=validation.min_names,
                scheme=scheme,
                families=behind,
                is_ensemble=ens,
            )

        for k in sorted(fit.fold_n_train):
            test = np.flatnonzero(fit.fold_of_row == k)
            scores = scored(test)
            rows.append(
                {
                    "target": target,
                    "family": name,
                    "fold": k,
                    **scores,
                    "best_iteration": median_iteration(best.get(k, [])),
                    "n_train": fit.fold_n_train[k],
                    "n_test": int(test.size),
                }
            )
        test = np.flatnonzero(tested)
        scores = scored(test, validation.scheme)
        final = fit.finals.get(name)
        rounds = median_iteration(list(final.rounds.values())) if final is not None else None
        rows.append(
            {
                "target": target,
                "family": name,
                "fold": -1,
                **scores,
                "best_iteration": rounds,
                "n_train": final.n_train if final is not None else n_trained,
                "n_test": int(test.size),
            }
        )
    return rows

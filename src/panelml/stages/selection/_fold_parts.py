"""What feature selection's (target, fold) tasks read and return, and how their
parts merge.

A fold's importances come from two kinds of executor task: the families' fits
(``"models"``: each family's model on the fold and its importance kinds, plus
the first family's test predictions for the skill gate) and the block kinds
(``"block"``: the partial and pairwise rank IC from the target's rank block).
They are separate tasks so that the short block tasks, dispatched after every
fit, fill the time a worker would otherwise wait for the other's last fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from panelml.data.matrix import FeatureMatrix
from panelml.stages.fitting import Fold

__all__ = ["FoldImportances", "FoldPart", "TargetWork", "by_target_and_fold"]

FoldPart = Literal["models", "block"]
"""Half of a (target, fold)'s importances: the families' fits, or the block kinds."""


@dataclass(frozen=True)
class TargetWork:
    """What every task of one target reads: its allowed columns, the augmented
    matrix, its rows, each family plan's folds and the folds of the univariate
    kinds and the conditional step (the same test blocks)."""

    target: str
    allowed: tuple[str, ...]
    X_aug: FeatureMatrix
    rows: np.ndarray[Any, np.dtype[np.int64]]
    plan_folds: list[list[Fold]]  # per family plan
    folds: list[Fold]


@dataclass(frozen=True)
class FoldImportances:
    """What one (target, fold) task returns: each importance label's raw vector
    over all columns in that fold, and the first family's predictions on the
    fold's test rows (for the skill gate; ``None`` without one)."""

    index: int
    raw: dict[str, np.ndarray[Any, np.dtype[np.float64]]]
    oof: np.ndarray[Any, np.dtype[np.float64]] | None


def by_target_and_fold(
    keys: Sequence[tuple[str, int]],
    parts: Sequence[FoldImportances],
    folds: Sequence[tuple[str, int]],
) -> dict[str, list[FoldImportances]]:
    """Each target's folds (in ``folds`` order) with the parts of a (target, fold)
    (``keys[i]`` names ``parts[i]``) merged into one :class:`FoldImportances`."""
    merged: dict[tuple[str, int], FoldImportances] = {}
    for key, part in zip(keys, parts, strict=True):
        kept = merged.get(key)
        if kept is not None:
            oof = kept.oof if kept.oof is not None else part.oof
            part = FoldImportances(part.index, {**kept.raw, **part.raw}, oof)
        merged[key] = part
    out: dict[str, list[FoldImportances]] = {}
    for target, k in folds:
        out.setdefault(target, []).append(merged[target, k])
    return out

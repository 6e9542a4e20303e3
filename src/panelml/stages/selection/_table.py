"""The per-target selection table: the consensus choice over all folds and per fold,
each feature's scores, hit rates and the reason it was not selected."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from panelml.stages.selection._consensus import Consensus, choose
from panelml.stages.selection._params import FeatureSelectionParams

__all__ = ["selection_table"]


def selection_table(
    params: FeatureSelectionParams,
    allowed: tuple[str, ...],
    flags: dict[str, list[str]],
    cons: Consensus,
    corr: Any,
    no_skill: str | None = None,
) -> tuple[pl.DataFrame, list[list[str]]]:
    """One target's selection table (columns in docs/architecture.md) and the per-fold
    selections for the stability record. Without out-of-fold skill (``no_skill`` is its
    reason) nothing is eligible; features the leakage screen removed (``flags``) get a
    row with their flags as the reason."""
    skill = no_skill is None  # without out-of-fold skill nothing is eligible
    eligible = cons.eligible(params.min_hit_rate, params.solo_min_hit_rate) & skill
    kept, reasons = choose(
        allowed, cons.score, eligible, params.top_n, corr, params.redundancy_threshold
    )
    selections: list[list[str]] = []
    counts = np.zeros(len(allowed))
    for f in range(cons.fold_score.shape[0]):
        fold_eligible = cons.fold_eligible(f, params.min_hit_rate) & skill
        fold_kept, _ = choose(
            allowed, cons.fold_score[f], fold_eligible, params.top_n, corr,
            params.redundancy_threshold,
        )  # fmt: skip
        counts[fold_kept] += 1
        selections.append([allowed[i] for i in fold_kept])
    n_folds = max(1, cons.fold_score.shape[0])
    order = sorted(range(len(allowed)), key=lambda i: (-cons.score[i], allowed[i]))
    rank = np.empty(len(allowed), dtype=np.int64)
    rank[order] = np.arange(1, len(allowed) + 1)
    kept_set = set(kept)
    records: list[dict[str, Any]] = []
    for i, name in enumerate(allowed):
        reason = None
        if i not in kept_set:
            reason = (
                no_skill
                or reasons.get(i)
                or (
                    f"not_eligible: consensus beat the shadows in {int(cons.hits[i])}/"
                    f"{cons.n_trials} folds (hit rate {cons.hit_rate[i]:.2f} < "
                    f"{params.min_hit_rate:g})"
                )
            )
        record: dict[str, Any] = {
            "feature": name,
            "consensus_score": float(cons.score[i]),
            "rank": int(rank[i]),
        }
        for label, values in cons.per_kind.items():
            record[f"imp_{label}"] = float(values[i])
        for label, values in cons.kind_hit_rate.items():
            record[f"hit_rate_{label}"] = float(values[i])
        record.update(
            selection_frequency=float(counts[i] / n_folds),
            eligible=bool(eligible[i]),
            selected=i in kept_set,
            reason=reason,
            hits=int(cons.hits[i]),
            hit_rate=float(cons.hit_rate[i]),
        )
        records.append(record)
    for name in sorted(flags):
        record = {"feature": name, "consensus_score": None, "rank": None}
        record.update({f"imp_{label}": None for label in cons.per_kind})
        record.update({f"hit_rate_{label}": None for label in cons.kind_hit_rate})
        record.update(
            selection_frequency=0.0,
            eligible=False,
            selected=False,
            reason="removed by leakage screen: " + ",".join(sorted(set(flags[name]))),
            hits=None,
            hit_rate=None,
        )
        records.append(record)
    schema: dict[str, Any] = {"feature": pl.String, "consensus_score": pl.Float64}
    schema["rank"] = pl.Int64
    schema.update({f"imp_{label}": pl.Float64 for label in cons.per_kind})
    schema.update({f"hit_rate_{label}": pl.Float64 for label in cons.kind_hit_rate})
    schema.update(
        selection_frequency=pl.Float64,
        eligible=pl.Boolean,
        selected=pl.Boolean,
        reason=pl.String,
        hits=pl.Int64,
        hit_rate=pl.Float64,
    )
    frame = pl.DataFrame(records, schema=schema).sort(["rank", "feature"], nulls_last=True)
    return frame, selections

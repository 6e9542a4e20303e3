"""The saved-model bundle of one trained (target, family): its ``meta.json`` content.

The format itself (files, sealing, reading) is :mod:`panelml.models.bundle`'s;
this module only fills the record training knows: what was fitted, on which rows
and folds, with which params and seeds, and how it scored out of fold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from panelml.data.panel import Panel
from panelml.models.bundle import FORMAT, FORMAT_VERSION, ModelBundle, safe_name
from panelml.pipeline.context import RunContext
from panelml.pipeline.runner import library_versions
from panelml.stages.fitting import FamilySpec
from panelml.stages.training._fit import TargetFit
from panelml.stages.training._metrics import METRIC_COLUMNS, median_iteration
from panelml.validation.spec import ValidationConfig
from panelml.validation.splitters import resolve_embargo

__all__ = ["LAYOUT", "BundleSpec", "model_bundle"]

LAYOUT = {
    "pooled": "models/<target>/<family>/: the family's native model files, family.json and "
    "this meta.json",
    "per_symbol": "models/<target>/<family>/<symbol folder>/: one model per symbol (native "
    "files, family.json, meta.json); 'symbols' maps each symbol to its folder",
}


@dataclass(frozen=True)
class BundleSpec:
    """What a bundle is of: the target, its features, the family, scope and validation."""

    target: str
    features: list[str]
    family: FamilySpec
    scope: Literal["pooled", "per_symbol"]
    validation: ValidationConfig


def model_bundle(
    ctx: RunContext,
    panel: Panel,
    spec: BundleSpec,
    fit: TargetFit,
    summary: Mapping[str, Any],
    *,
    demeaned: bool,
) -> ModelBundle:
    """The bundle of ``spec``'s final model(s), with ``summary`` (its out-of-fold
    summary metrics row) as the ``cv`` record."""
    target, name = spec.target, spec.family.name
    final = fit.finals[name]
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "target": target,
        "horizon": panel.horizons[target],
        "kind": panel.target_kinds[target],
        "family": name,
        "family_params": final.params,
        "features": list(spec.features),
        "scope": spec.scope,
        "symbol": None,
        "layout": LAYOUT[spec.scope],
        "seed": ctx.seed,
        "fit_seed_purpose": ["training", target, name, "final"],
        "label": "demeaned per timestamp" if demeaned else "raw target",
        "n_train_rows": final.n_train,
        "n_rounds": median_iteration(list(final.rounds.values())),
        "rounds_rule": "median of the CV folds' best iterations (early stopping), "
        "else the configured number",
        "cv": {k: summary[k] for k in (*METRIC_COLUMNS, "n_test")},
        "validation": {
            "scheme": spec.validation.scheme,
            "n_splits": spec.validation.n_splits,
            "embargo": resolve_embargo(spec.validation, panel.n_timestamps),
        },
        "data_fingerprint": ctx.data_fingerprint,
        "versions": library_versions(),
        "symbol_column": panel.symbol_column,
        "timestamp_column": panel.timestamp_column,
        "timestamp_dtype": panel.timestamp_dtype,
    }
    if final.tuning:
        # chosen params (final model and each outer fold) and where the study lies
        meta["tuning"] = final.tuning.get("") or dict(sorted(final.tuning.items()))
    bundle = ModelBundle(meta=meta, model=final.model)
    if spec.scope == "per_symbol":
        meta["symbols"] = {s: safe_name(s) for s in sorted(final.by_symbol)}
        meta["rounds_by_symbol"] = dict(sorted(final.rounds.items()))
        meta["skipped_symbols"] = dict(sorted(fit.skipped.items()))
        bundle.by_symbol = dict(final.by_symbol)
    return bundle

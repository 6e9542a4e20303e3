"""Comparing two runs, and listing the runs of an output folder.

:func:`diff_runs` compares two run folders: config (flattened key paths), data
fingerprint, per-target ranking scores, selected-feature overlap, training
metrics, and the content of every result file; :func:`classify` names the pair
*identical*, *stable*, *drifting* or *diverged* with the thresholds of
:class:`DiffThresholds`. Reading run folders (their record, listing, file
digests) lives in :mod:`panelml.stability.runs`; results are read through the
contract readers of :mod:`panelml.contracts`. Stability over a whole history of runs lives in
:mod:`panelml.stability.history`.

Everything here is a pure function of frames and folders; printing is done by
``panelml.commands.runs``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from panelml import contracts
from panelml.stability.runs import (
    RESULT_STAGES,
    RunFolder,
    RunsError,
    list_runs,
    load_stage,
    open_run,
    result_digests,
)

__all__ = [
    "RESULT_STAGES",
    "DiffThresholds",
    "RunDiff",
    "RunFolder",
    "RunsError",
    "classify",
    "config_changes",
    "diff_runs",
    "flatten_config",
    "list_runs",
    "metric_deltas",
    "open_run",
    "result_digests",
    "score_changes",
    "selection_overlap",
]

NAN = float("nan")


# == the diff of two runs ==========================================================
IDENTITY_IGNORED_KEYS: tuple[str, ...] = (
    "runtime.output_dir",
    "runtime.cache_dir",
    "runtime.quiet",
)
"""Config keys that say where outputs go or how much is printed: they cannot change
a result, so they do not make two runs different."""


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into ``a.b.c`` key paths.

    Lists of mappings that all have a ``name`` (the pipeline's stage entries, the
    hooks) are keyed by that name, ``pipeline.stages[training].params.x``, so a
    reordering shows as one change of ``...order`` rather than many; other lists
    are leaves.
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten_config(value, path))
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value)
            and len({v["name"] for v in value}) == len(value)
        ):
            out[f"{path}.order"] = [v["name"] for v in value]
            for item in value:
                rest = {k: v for k, v in item.items() if k != "name"}
                out.update(flatten_config(rest, f"{path}[{item['name']}]"))
        else:
            out[path] = value
    return out


@dataclass(frozen=True)
class ConfigChange:
    """One config key whose value differs (``None`` also stands for absent)."""

    key: str
    a: Any
    b: Any


_ABSENT = object()


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[ConfigChange]:
    """Keys whose values differ between two configs, in key order."""
    fa, fb = flatten_config(a), flatten_config(b)
    out: list[ConfigChange] = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, _ABSENT), fb.get(key, _ABSENT)
        if va != vb:
            out.append(
                ConfigChange(key, None if va is _ABSENT else va, None if vb is _ABSENT else vb)
            )
    return out


def score_changes(a: Path, b: Path) -> pl.DataFrame:
    """Per target: ranking score, rank and status in both runs, and the score delta (b - a).

    Columns: target, score_a, score_b, delta, rank_a, rank_b, status_a, status_b.
    A target ranked in one run only has a null on the other side.
    """
    schema: dict[str, pl.DataType] = {
        "target": pl.String(),
        "score_a": pl.Float64(),
        "score_b": pl.Float64(),
        "delta": pl.Float64(),
        "rank_a": pl.Int64(),
        "rank_b": pl.Int64(),
        "status_a": pl.String(),
        "status_b": pl.String(),
    }
    found = [load_stage(run, "target_ranking") for run in (a, b)]
    if any(r is None for r in found):
        return pl.DataFrame(schema=schema)
    try:
        fa, fb = (contracts.ranking_scores(r) for r in found)
    except contracts.ContractReadError:
        return pl.DataFrame(schema=schema)

    def side(frame: pl.DataFrame, tag: str) -> pl.DataFrame:
        return frame.rename({c: f"{c}_{tag}" for c in ("score", "rank", "status")})

    joined = side(fa, "a").join(side(fb, "b"), on="target", how="full", coalesce=True)
    joined = joined.with_columns((pl.col("score_b") - pl.col("score_a")).alias("delta"))
    return joined.select(list(schema)).sort("target")


def _selected_sets(run_dir: Path) -> dict[str, set[str]]:
    """target -> the run's selected features (``FeatureChoice`` readers)."""
    result = load_stage(run_dir, "feature_selection")
    out: dict[str, set[str]] = {}
    for target in contracts.feature_choice_targets(result):
        try:
            out[target] = set(contracts.selected_features(result, target))
        except contracts.ContractReadError:
            continue
    return out


def selection_overlap(a: Path, b: Path) -> pl.DataFrame:
    """Per target with a selection in both runs: sizes, overlap and Jaccard of the
    selected feature sets (``feature_selection/<target>.parquet``).

    Columns: target, n_a, n_b, n_common, jaccard (NaN when both sets are empty).
    """
    sa, sb = _selected_sets(a), _selected_sets(b)
    rows = []
    for target in sorted(set(sa) & set(sb)):
        common = len(sa[target] & sb[target])
        union = len(sa[target] | sb[target])
        rows.append(
            {
                "target": target,
                "n_a": len(sa[target]),
                "n_b": len(sb[target]),
                "n_common": common,
                "jaccard": common / union if union else NAN,
            }
        )
    schema: dict[str, pl.DataType] = {
        "target": pl.String(),
        "n_a": pl.Int64(),
        "n_b": pl.Int64(),
        "n_common": pl.Int64(),
        "jaccard": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema)


def metric_deltas(a: Path, b: Path, metric: str = "ic_mean") -> pl.DataFrame:
    """Per (target, family): the summary metric (``fold == -1`` rows of
    ``training/metrics.parquet``) in both runs and its delta (b - a).

    Columns: target, family, value_a, value_b, delta.
    """
    schema: dict[str, pl.DataType] = {
        "target": pl.String(),
        "family": pl.String(),
        "value_a": pl.Float64(),
        "value_b": pl.Float64(),
        "delta": pl.Float64(),
    }
    try:
        frames = [contracts.summary_metrics(load_stage(run, "training")) for run in (a, b)]
    except contracts.ContractReadError:
        return pl.DataFrame(schema=schema)
    if any(f is None or metric not in f.columns for f in frames):
        return pl.DataFrame(schema=schema)

    def side(frame: pl.DataFrame, tag: str) -> pl.DataFrame:
        return frame.select(
            pl.col("target").cast(pl.String()),
            pl.col("family").cast(pl.String()),
            pl.col(metric).cast(pl.Float64()).alias(f"value_{tag}"),
        )

    fa, fb = frames
    assert fa is not None and fb is not None
    joined = side(fa, "a").join(side(fb, "b"), on=["target", "family"], how="full", coalesce=True)
    joined = joined.with_columns((pl.col("value_b") - pl.col("value_a")).alias("delta"))
    return joined.select(list(schema)).sort(["target", "family"])


@dataclass(frozen=True)
class DiffThresholds:
    """Levels that classify a pair of runs (our conventions, in IC units).

    * **identical**: the same config (apart from :data:`IDENTITY_IGNORED_KEYS`),
      the same data fingerprint, and every result file equal by content
      (:func:`result_digests`).
    * **stable**: the same targets ranked and selected, every ranking score and
      every training ``ic_mean`` within ``stable_score`` (0.02), and every
      target's selected-feature Jaccard at least ``stable_jaccard`` (0.8).
    * **drifting**: the same targets ranked, scores and ``ic_mean`` within
      ``drift_score`` (0.05), Jaccard at least ``drift_jaccard`` (0.5).
    * **diverged**: anything else, including a target ranked in one run only.

    A measure with nothing to compare (no ranking in either run, say) does not
    count against the pair.
    """

    stable_score: float = 0.02
    stable_jaccard: float = 0.8
    drift_score: float = 0.05
    drift_jaccard: float = 0.5


Classification = Literal["identical", "stable", "drifting", "diverged"]


@dataclass(frozen=True)
class RunDiff:
    """Everything ``panelml runs diff`` shows about two runs."""

    a: RunFolder
    b: RunFolder
    config: list[ConfigChange]
    data_a: str | None
    data_b: str | None
    scores: pl.DataFrame
    selections: pl.DataFrame
    metrics: pl.DataFrame
    files_differing: list[str]
    files_compared: int
    classification: Classification
    reasons: list[str] = field(default_factory=list)

    @property
    def same_data(self) -> bool:
        return self.data_a == self.data_b


def _max_abs(frame: pl.DataFrame, column: str) -> float:
    if frame.height == 0:
        return 0.0
    values = frame[column].to_numpy().astype(np.float64)
    if np.isnan(values).any():
        return math.inf
    return float(np.max(np.abs(values)))


def _min_finite(frame: pl.DataFrame, column: str) -> float:
    values = [float(v) for v in frame[column].to_list() if v is not None and not math.isnan(v)]
    return min(values) if values else 1.0


def classify(
    *,
    same_config: bool,
    same_data: bool,
    same_files: bool,
    scores: pl.DataFrame,
    selections: pl.DataFrame,
    metrics: pl.DataFrame,
    thresholds: DiffThresholds | None = None,
) -> tuple[Classification, list[str]]:
    """The class of a pair of runs and the reasons for it (:class:`DiffThresholds`)."""
    th = thresholds or DiffThresholds()
    if same_config and same_data and same_files:
        return "identical", ["same config, same data and identical result files"]
    reasons: list[str] = []
    if not same_config:
        reasons.append("the config differs")
    if not same_data:
        reasons.append("the data differs")
    if same_config and same_data and not same_files:
        reasons.append("same config and data but different results (not reproducible?)")
    score = _max_abs(scores, "delta")
    metric = _max_abs(metrics, "delta")
    jaccard = _min_finite(selections, "jaccard")
    worst = max(score, metric)
    same_selected = True
    if scores.height:
        sel_a = set(scores.filter(pl.col("status_a") == "selected")["target"].to_list())
        sel_b = set(scores.filter(pl.col("status_b") == "selected")["target"].to_list())
        same_selected = sel_a == sel_b
    reasons.append(
        f"max |score delta| {score:.4g}, max |ic_mean delta| {metric:.4g}, "
        f"min selection Jaccard {jaccard:.3f}"
        + ("" if same_selected else ", the selected targets differ")
    )
    if worst <= th.stable_score and jaccard >= th.stable_jaccard and same_selected:
        return "stable", reasons
    if worst <= th.drift_score and jaccard >= th.drift_jaccard:
        return "drifting", reasons
    return "diverged", reasons


def _same_config(a: RunFolder, b: RunFolder) -> bool:
    hash_a, hash_b = a.manifest.get("config_hash"), b.manifest.get("config_hash")
    if hash_a is not None and hash_a == hash_b:
        return True
    changes = config_changes(a.config, b.config)
    return all(c.key in IDENTITY_IGNORED_KEYS for c in changes)


def diff_runs(a: Path, b: Path, thresholds: DiffThresholds | None = None) -> RunDiff:
    """Compare two run folders (see the module docstring and :class:`DiffThresholds`)."""
    run_a, run_b = open_run(a), open_run(b)
    digests_a, digests_b = result_digests(run_a.path), result_digests(run_b.path)
    differing = sorted(
        key for key in set(digests_a) | set(digests_b) if digests_a.get(key) != digests_b.get(key)
    )
    scores = score_changes(run_a.path, run_b.path)
    selections = selection_overlap(run_a.path, run_b.path)
    metrics = metric_deltas(run_a.path, run_b.path)
    data_a = run_a.manifest.get("data_fingerprint")
    data_b = run_b.manifest.get("data_fingerprint")
    label, reasons = classify(
        same_config=_same_config(run_a, run_b),
        same_data=data_a == data_b,
        same_files=not differing and bool(digests_a),
        scores=scores,
        selections=selections,
        metrics=metrics,
        thresholds=thresholds,
    )
    return RunDiff(
        a=run_a,
        b=run_b,
        config=config_changes(run_a.config, run_b.config),
        data_a=None if data_a is None else str(data_a),
        data_b=None if data_b is None else str(data_b),
        scores=scores,
        selections=selections,
        metrics=metrics,
        files_differing=differing,
        files_compared=len(set(digests_a) | set(digests_b)),
        classification=label,
        reasons=reasons,
    )

"""Comparing runs: stability over an experiment's history, and the diff of two runs.

Two questions users ask after a rerun:

* **Will the features hold?** :func:`history_stability` measures, per target and
  method, how stable the selections and importance rankings in the snapshot
  store are across runs (Nogueira's Phi with its 95% interval over the runs'
  selected sets, Jaccard of the top-k between this run and the previous one and
  over all pairs, Kendall's tau of the importances), plus each feature's
  selection frequency. Measures come from :mod:`panelml.stability.measures`.
* **What changed between two runs?** :func:`diff_runs` compares two run folders:
  config (flattened key paths), data fingerprint, per-target ranking scores,
  selected-feature overlap, training metrics, and the content of every result
  file; :func:`classify` names the pair *identical*, *stable*, *drifting* or
  *diverged* with the thresholds of :class:`DiffThresholds`.

Everything here is a pure function of frames and folders; printing is done by
``panelml.commands.stability`` and ``panelml.commands.runs``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import yaml

from panelml.pipeline.errors import UserError
from panelml.pipeline.results import frame_digest
from panelml.stability.measures import (
    StabilityThresholds,
    jaccard_topk,
    kendall_tau_union,
    mean_pairwise_jaccard,
    nogueira_stability,
    selection_matrix,
    stability_warnings,
)
from panelml.stability.snapshots import CONSENSUS

__all__ = [
    "FREQUENCY_SCHEMA",
    "REPORT_SCHEMA",
    "DiffThresholds",
    "RunDiff",
    "RunFolder",
    "RunsError",
    "classify",
    "config_changes",
    "diff_runs",
    "flatten_config",
    "history_stability",
    "list_runs",
    "metric_deltas",
    "open_run",
    "result_digests",
    "score_changes",
    "selection_overlap",
]

NAN = float("nan")

REPORT_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "method": pl.String(),
    "n_runs": pl.Int64(),
    "nogueira": pl.Float64(),
    "nogueira_ci_low": pl.Float64(),
    "nogueira_ci_high": pl.Float64(),
    "jaccard_prev": pl.Float64(),
    "jaccard_mean": pl.Float64(),
    "kendall_prev": pl.Float64(),
    "kendall_mean": pl.Float64(),
    "fold_phi": pl.Float64(),
    "fold_phi_ci_low": pl.Float64(),
    "fold_phi_ci_high": pl.Float64(),
    "most_stable": pl.String(),
    "least_stable": pl.String(),
    "status": pl.String(),
    "message": pl.String(),
}
"""Columns of the stability report (the contract columns plus ``kendall_mean``,
``most_stable`` and ``least_stable``)."""

FREQUENCY_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "method": pl.String(),
    "feature": pl.String(),
    "selection_frequency": pl.Float64(),
    "n_runs": pl.Int64(),
}


class RunsError(UserError):
    """A folder given as a run is not a panelml run folder."""


# == stability across runs ========================================================
@dataclass(frozen=True)
class _RunView:
    """One run's snapshot of one (target, method)."""

    run_id: str
    ranking: list[str]
    selected: frozenset[str]
    importance: dict[str, float]


def _views(group: pl.DataFrame, order: list[str]) -> list[_RunView]:
    views: list[_RunView] = []
    by_run = {str(key[0]): part for key, part in group.group_by(["run_id"], maintain_order=True)}
    for run_id in order:
        part = by_run.get(run_id)
        if part is None:
            continue
        part = part.sort(["rank", "feature"], nulls_last=True)
        features = [str(f) for f in part["feature"].to_list()]
        importance = {
            f: float(v)
            for f, v in zip(features, part["importance"].to_list(), strict=True)
            if v is not None and math.isfinite(float(v))
        }
        chosen = frozenset(
            f for f, s in zip(features, part["selected"].to_list(), strict=True) if s
        )
        views.append(_RunView(run_id, features, chosen, importance))
    return views


def _run_order(snapshots: pl.DataFrame, current_run: str | None) -> list[str]:
    """Run ids oldest first (earliest snapshot, then id); the current run last."""
    if snapshots.height == 0:
        return []
    first = snapshots.group_by("run_id").agg(pl.col("created").min()).sort(["created", "run_id"])
    order = [str(r) for r in first["run_id"].to_list() if r != current_run]
    if current_run is not None and current_run in set(first["run_id"].to_list()):
        order.append(current_run)
    return order


def _kendall_mean(views: list[_RunView]) -> float:
    values = [
        kendall_tau_union(a.importance, b.importance)
        for a, b in itertools.pairwise(views)
        if a.importance and b.importance
    ]
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else NAN


def _stable_extremes(views: list[_RunView], universe: list[str]) -> tuple[str, str]:
    """Most stable: selected most often (ties: name); least stable: selection
    frequency closest to 1/2 among features selected at least once (they flip
    the most between runs; ties: name). Up to three names each, comma-joined."""
    n = len(views)
    counts = {f: sum(f in v.selected for v in views) for f in universe}
    ever = [f for f in universe if counts[f] > 0]
    most = sorted(ever, key=lambda f: (-counts[f], f))[:3]
    flipping = [f for f in ever if counts[f] < n]
    least = sorted(flipping, key=lambda f: (abs(counts[f] / n - 0.5), f))[:3]
    return ", ".join(most), ", ".join(least)


def _fold_values(fold: Mapping[str, Any] | None) -> tuple[float, float, float]:
    if not isinstance(fold, Mapping):
        return NAN, NAN, NAN

    def num(key: str) -> float:
        value = fold.get(key)
        return float(value) if isinstance(value, int | float) else NAN

    return num("phi"), num("ci_low"), num("ci_high")


def history_stability(
    snapshots: pl.DataFrame,
    *,
    current_run: str | None = None,
    k: int = 10,
    thresholds: StabilityThresholds | None = None,
    fold_stability: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stability of each (target, method) over the runs in ``snapshots``.

    Args:
        snapshots: snapshot rows (:data:`~panelml.stability.snapshots.SNAPSHOT_SCHEMA`)
            of one experiment, this run's included.
        current_run: the run being reported on. It is ordered last, "previous" is
            the most recent other run, and only (target, method) pairs present in
            it are reported. ``None`` (``panelml stability``): every pair, and the
            latest run plays the current one.
        k: size of the top-k sets compared by Jaccard.
        thresholds: warning levels (defaults of :class:`StabilityThresholds`).
        fold_stability: per target, the within-run fold stability of the
            selection (``phi``, ``ci_low``, ``ci_high``), reported on the
            consensus rows.

    Returns ``(report, frequency)``: :data:`REPORT_SCHEMA` rows, one per
    (target, method), and :data:`FREQUENCY_SCHEMA` rows, one per (target, method,
    feature). The feature universe of a target (the d of Nogueira's Phi) is every
    feature that appears in any of its snapshots, of any method and run.
    ``status`` is ``warn`` when a measure is below its threshold
    (:func:`~panelml.stability.measures.stability_warnings`: Phi over runs,
    Jaccard and Kendall between this run and the previous one, Phi over folds)
    and ``message`` says which; otherwise ``ok``.
    """
    th = thresholds or StabilityThresholds()
    folds = fold_stability or {}
    order = _run_order(snapshots, current_run)
    report: list[dict[str, Any]] = []
    frequency: list[dict[str, Any]] = []
    if snapshots.height == 0:
        return pl.DataFrame(schema=REPORT_SCHEMA), pl.DataFrame(schema=FREQUENCY_SCHEMA)
    for (target_key,), per_target in snapshots.group_by(["target"], maintain_order=False):
        target = str(target_key)
        universe = sorted({str(f) for f in per_target["feature"].to_list()})
        for (method_key,), group in per_target.group_by(["method"], maintain_order=False):
            method = str(method_key)
            views = _views(group, order)
            if not views or (current_run is not None and views[-1].run_id != current_run):
                continue
            current = views[-1]
            previous = views[-2] if len(views) > 1 else None
            Z, _ = selection_matrix([v.selected for v in views], universe)
            estimate = nogueira_stability(Z)
            jaccard_prev = jaccard_topk(current.ranking, previous.ranking, k) if previous else NAN
            kendall_prev = (
                kendall_tau_union(current.importance, previous.importance)
                if previous and current.importance and previous.importance
                else NAN
            )
            fold_phi, fold_low, fold_high = (
                _fold_values(folds.get(target)) if method == CONSENSUS else (NAN, NAN, NAN)
            )
            context = f"target {target} ({method})"
            messages = stability_warnings(
                nogueira=estimate if len(views) >= 2 else None,
                jaccard=jaccard_prev,
                kendall=kendall_prev,
                thresholds=th,
                context=context + f" over {len(views)} runs",
            )
            if not math.isnan(fold_phi) and fold_phi < th.nogueira_warn:
                messages.append(
                    f"{context}: feature selection is unstable across folds: Nogueira Phi = "
                    f"{fold_phi:.3f} (95% CI {fold_low:.3f} to {fold_high:.3f}), below "
                    f"{th.nogueira_warn:g}"
                )
            most, least = _stable_extremes(views, universe)
            report.append(
                {
                    "target": target,
                    "method": method,
                    "n_runs": len(views),
                    "nogueira": estimate.phi,
                    "nogueira_ci_low": estimate.ci_low,
                    "nogueira_ci_high": estimate.ci_high,
                    "jaccard_prev": jaccard_prev,
                    "jaccard_mean": mean_pairwise_jaccard([v.ranking for v in views], k),
                    "kendall_prev": kendall_prev,
                    "kendall_mean": _kendall_mean(views),
                    "fold_phi": fold_phi,
                    "fold_phi_ci_low": fold_low,
                    "fold_phi_ci_high": fold_high,
                    "most_stable": most,
                    "least_stable": least,
                    "status": "warn" if messages else "ok",
                    "message": "; ".join(messages),
                }
            )
            seen = sorted({f for v in views for f in v.ranking})
            for feature in seen:
                count = sum(feature in v.selected for v in views)
                frequency.append(
                    {
                        "target": target,
                        "method": method,
                        "feature": feature,
                        "selection_frequency": count / len(views),
                        "n_runs": len(views),
                    }
                )
    report_frame = pl.DataFrame(report, schema=REPORT_SCHEMA).sort(["target", "method"])
    frequency_frame = pl.DataFrame(frequency, schema=FREQUENCY_SCHEMA).sort(
        ["target", "method", "selection_frequency", "feature"],
        descending=[False, False, True, False],
    )
    return report_frame, frequency_frame


# == one run folder ==============================================================
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class RunFolder:
    """A run folder's record: its path, ``manifest.json`` and ``config.yaml``."""

    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def experiment(self) -> str:
        return str(self.manifest.get("experiment") or self.path.parent.name)


def open_run(path: Path) -> RunFolder:
    """Read a run folder; a folder without ``manifest.json`` is a :class:`RunsError`."""
    folder = Path(path)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise RunsError(
            f"{folder} is not a panelml run folder (no {MANIFEST_FILE}); give a folder such "
            "as runs/<experiment>/<run_id>"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunsError(f"{manifest_path}: cannot read the manifest: {exc}") from None
    config: dict[str, Any] = {}
    config_path = folder / CONFIG_FILE
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RunsError(f"{config_path}: cannot read the config: {exc}") from None
        config = loaded if isinstance(loaded, dict) else {}
    return RunFolder(folder, manifest if isinstance(manifest, dict) else {}, config)


@dataclass(frozen=True)
class RunSummary:
    """One line of ``panelml runs list``."""

    experiment: str
    run_id: str
    started: str | None
    status: str
    seconds: float | None
    top_targets: list[str]
    path: Path


def _selected_targets(run_dir: Path, limit: int = 3) -> list[str]:
    path = run_dir / "target_ranking" / "ranking.parquet"
    if not path.is_file():
        return []
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError):
        return []
    if not {"target", "status"} <= set(frame.columns):
        return []
    chosen = frame.filter(pl.col("status") == "selected")
    if "rank" in chosen.columns:
        chosen = chosen.sort(["rank", "target"], nulls_last=True)
    return [str(t) for t in chosen["target"].to_list()[:limit]]


def _run_dirs(root: Path) -> list[Path]:
    """Run folders under ``root``: itself, its children or its grandchildren."""
    if (root / MANIFEST_FILE).is_file():
        return [root]
    children = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = [p for p in children if (p / MANIFEST_FILE).is_file()]
    if found:
        return found
    return sorted(p.parent for p in root.glob(f"*/*/{MANIFEST_FILE}"))


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root`` (an output folder, an experiment folder or one run),
    ordered by experiment, start time and run id."""
    if not Path(root).is_dir():
        raise RunsError(f"{root} is not a folder; give the runs folder (runtime.output_dir)")
    out: list[RunSummary] = []
    for run_dir in _run_dirs(Path(root)):
        try:
            run = open_run(run_dir)
        except RunsError:
            continue
        seconds = run.manifest.get("seconds")
        started = run.manifest.get("started")
        out.append(
            RunSummary(
                experiment=run.experiment,
                run_id=run.run_id,
                started=str(started) if started else None,
                status=str(run.manifest.get("status", "unknown")),
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
                top_targets=_selected_targets(run_dir),
                path=run_dir,
            )
        )
    return sorted(out, key=lambda r: (r.experiment, r.started or "", r.run_id))


# == the diff of two runs ==========================================================
IDENTITY_IGNORED_KEYS: tuple[str, ...] = (
    "runtime.output_dir",
    "runtime.cache_dir",
    "runtime.quiet",
)
"""Config keys that say where outputs go or how much is printed: they cannot change
a result, so they do not make two runs different."""

RESULT_STAGES: tuple[str, ...] = (
    "leakage_screen",
    "target_ranking",
    "feature_selection",
    "training",
    "models",
)
"""Folders whose files are compared by content. ``stability/`` (which depends on
the runs before it) and the report (which shows timings) are left out."""


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


def _is_time_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _TIME_KEYS or lowered.endswith(_TIME_SUFFIXES)


def _strip_times(value: Any) -> Any:
    """JSON data without keys that record when or how long (they always differ)."""
    if isinstance(value, Mapping):
        return {k: _strip_times(v) for k, v in value.items() if not _is_time_key(str(k))}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


_TIME_KEYS = frozenset(
    {"created", "saved", "time", "date", "started", "finished", "seconds", "duration"}
)
_TIME_SUFFIXES = ("_at", "_time", "_seconds", "_date", "_duration")


def result_digests(run_dir: Path, stages: Iterable[str] = RESULT_STAGES) -> dict[str, str]:
    """A content digest per result file of a run (relative path -> sha256).

    Parquet files are hashed by content (:func:`~panelml.pipeline.results.frame_digest`,
    independent of the writer); ``meta.json`` files without their time fields
    (keys containing time, created, date, seconds, duration, started, finished);
    the stage index files ``result.json`` are left out (their tables are hashed);
    any other file (native model files) by its bytes.
    """
    out: dict[str, str] = {}
    for stage in stages:
        base = run_dir / stage
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(run_dir).as_posix()
            if path.name == "result.json" and path.parent == base:
                continue
            if path.suffix == ".parquet":
                out[rel] = frame_digest(pl.read_parquet(path))
            elif path.name == "meta.json":
                data = json.loads(path.read_text(encoding="utf-8"))
                text = json.dumps(_strip_times(data), sort_keys=True, default=str)
                out[rel] = hashlib.sha256(text.encode()).hexdigest()
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _read(path: Path) -> pl.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError):
        return None


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
    frames = [_read(run / "target_ranking" / "ranking.parquet") for run in (a, b)]
    if any(f is None or not {"target", "score"} <= set(f.columns) for f in frames):
        return pl.DataFrame(schema=schema)

    def side(frame: pl.DataFrame, tag: str) -> pl.DataFrame:
        cols = [pl.col("target").cast(pl.String()), pl.col("score").cast(pl.Float64())]
        cols.append(
            pl.col("rank").cast(pl.Int64()) if "rank" in frame.columns else pl.lit(None, pl.Int64())
        )
        cols.append(
            pl.col("status").cast(pl.String())
            if "status" in frame.columns
            else pl.lit(None, pl.String())
        )
        renamed = frame.select(cols)
        renamed.columns = ["target", f"score_{tag}", f"rank_{tag}", f"status_{tag}"]
        return renamed

    fa, fb = frames
    assert fa is not None and fb is not None
    joined = side(fa, "a").join(side(fb, "b"), on="target", how="full", coalesce=True)
    joined = joined.with_columns((pl.col("score_b") - pl.col("score_a")).alias("delta"))
    return joined.select(list(schema)).sort("target")


def _selected_sets(run_dir: Path) -> dict[str, set[str]]:
    base = run_dir / "feature_selection"
    out: dict[str, set[str]] = {}
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.parquet")):
        frame = _read(path)
        if frame is None or not {"feature", "selected"} <= set(frame.columns):
            continue
        out[path.stem] = {str(f) for f in frame.filter(pl.col("selected"))["feature"].to_list()}
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
    frames = [_read(run / "training" / "metrics.parquet") for run in (a, b)]
    needed = {"target", "family", "fold", metric}
    if any(f is None or not needed <= set(f.columns) for f in frames):
        return pl.DataFrame(schema=schema)

    def side(frame: pl.DataFrame, tag: str) -> pl.DataFrame:
        return frame.filter(pl.col("fold") == -1).select(
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

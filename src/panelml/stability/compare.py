"""Comparing two runs, and listing the runs of an output folder.

:func:`diff_runs` compares two run folders: config (flattened key paths), data
fingerprint, per-target ranking scores, selected-feature overlap, training
metrics, and the content of every result file; :func:`classify` names the pair
*identical*, *stable*, *drifting* or *diverged* with the thresholds of
:class:`DiffThresholds`. Stability over a whole history of runs lives in
:mod:`panelml.stability.history`.

Everything here is a pure function of frames and folders; printing is done by
``panelml.commands.runs``.
"""

from __future__ import annotations

import hashlib
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

__all__ = [
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


class RunsError(UserError):
    """A folder given as a run is not a panelml run folder."""


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

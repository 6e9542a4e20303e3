"""Benchmark: the default panelml pipeline against the plain loop a user would write
(not a test; run by hand).

    python bench/pipeline.py --scale small            # 32k rows x 30 features x 12 targets
    python bench/pipeline.py --scale medium           # 200k rows x 100 features x 12 targets

The data is a ``make_panel`` synthetic panel (complete grid, no missing values,
no planted leaks) with the 12 targets of :data:`TARGETS`: 7 regression targets
with signal (linear, nonlinear, interaction; horizons 1-10), 3 pure-noise
regression targets (horizons 1, 3, 20) and 2 binary targets (horizons 1, 5).

Each repeat runs two child processes, one after the other, so that their peak
memory is measured apart:

- **pipeline**: ``panelml.run()`` of an experiment with the default stage list
  (leakage_screen -> target_ranking -> feature_selection -> training ->
  stability -> report), default stage params, ``runtime.n_jobs = --threads``,
  cache off. It reads the per-stage wall times from ``manifest.json``.
- **loop**: the same modelling work written as a plain LightGBM + scikit-learn
  loop (see :func:`plain_loop` for exactly what it does): a fresh
  ``lgb.Dataset(X[rows], y[rows])`` for every target, fold and fit, one
  ``StandardScaler`` + ``Ridge`` (``LogisticRegression`` for binary targets) per
  target and fold, the same purged folds (``PurgedKFold`` with each target's
  horizon, the run's embargo, the same inner early-stopping block) and the same
  LightGBM params as the corresponding pipeline stage.

Both children wrap the model libraries' calls with timers (``_instrument.py``).
Reported: wall per stage; the *fit floor* (seconds inside LightGBM binning,
``lightgbm.train``, ``Booster.predict``, sklearn linear ``fit``/``predict``,
and the fit/predict calls of panelml's own linear families, which fit the same
models in numpy); the overhead ratio = pipeline wall / its fit floor (goal <=
1.10; also given without predict, and over the library calls alone); the
speed-up over the loop (goal >= 1.5x) with the per-target mean OOF rank IC
of the loop's LightGBM against the ranking's ``lightgbm_ic`` column (max
|diff|, Spearman of the target order); peak RSS against the float32 size of X
(goal <= 2x). Results: ``bench/results/pipeline_<scale>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _instrument import FitTimer, current_rss_bytes, peak_rss_bytes

from panelml.data.synthetic import TargetSpec


def children_cpu_seconds() -> float:
    """CPU seconds of finished child processes (the process executor's workers once joined;
    Ray's workers are not children of the driver)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


def peak_rss_children_bytes() -> int:
    """Peak RSS of the largest finished child process (executor workers; KiB on Linux)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


RESULTS_DIR = Path(__file__).parent / "results"
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# -- the data -------------------------------------------------------------------------

TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("fwd_ret_1", 1, 0.10, "linear", (0, 1)),
    TargetSpec("fwd_ret_2", 2, 0.12, "linear", (8, 9)),
    TargetSpec("fwd_ret_3", 3, 0.08, "linear", (10, 11)),
    TargetSpec("fwd_ret_5", 5, 0.20, "linear", (2, 3, 4)),
    TargetSpec("fwd_ret_10", 10, 0.15, "nonlinear", (5, 1)),
    TargetSpec("fwd_vol_5", 5, 0.25, "interaction", (6, 7, 2)),
    TargetSpec("fwd_vol_10", 10, 0.12, "interaction", (8, 3)),
    TargetSpec("fwd_ret_20", 20, 0.0, "none"),
    TargetSpec("fwd_noise_1", 1, 0.0, "none"),
    TargetSpec("fwd_noise_3", 3, 0.0, "none"),
    TargetSpec("y_up_1", 1, 0.10, "linear", (9, 4), kind="binary"),
    TargetSpec("y_up_5", 5, 0.15, "linear", (3, 0), kind="binary"),
)
"""12 targets for ``make_panel`` (its default set has 7): the defaults' forms plus
more horizons, so ranking fits several purge groups. Signal positions 0..11."""


@dataclass(frozen=True)
class Scale:
    n_symbols: int
    n_timestamps: int
    n_signal_features: int
    n_noise_features: int
    repeats: int

    @property
    def n_rows(self) -> int:
        return self.n_symbols * self.n_timestamps

    @property
    def n_features(self) -> int:
        return self.n_signal_features + self.n_noise_features


SCALES = {
    "tiny": Scale(
        n_symbols=40, n_timestamps=200, n_signal_features=12, n_noise_features=8, repeats=1
    ),  # a smoke test of the script, not a measurement
    "small": Scale(
        n_symbols=80, n_timestamps=400, n_signal_features=12, n_noise_features=18, repeats=3
    ),
    "medium": Scale(
        n_symbols=200, n_timestamps=1000, n_signal_features=12, n_noise_features=88, repeats=1
    ),
}

FLOOR_KINDS = ("binning", "fit", "predict", "own_model")
"""Floor categories of ``_instrument.FitTimer`` (``own_model``: panelml's linear families)."""
EXPERIMENT = "bench_pipeline"
MASTER_SEED = 42
N_SPLITS = 5
EMBARGO_PCT = 0.01
MIN_NAMES = 5
ES_FRACTION = 0.2
RANKING_LIGHTGBM: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "early_stopping_rounds": 20,
}
"""``panelml.stages.ranking.RANKING_FAMILY_DEFAULTS['lightgbm']`` when this was
written; the loop uses the values the pipeline child reports (this only when the
pipeline side is off), so the loop never imports a stage module."""
DEFAULT_IMPORTANCES: tuple[dict[str, Any], ...] = (
    {"family": "lightgbm", "kind": "gain", "weight": 1.0},
    {"family": "lightgbm", "kind": "permutation", "weight": 1.0},
    {"family": "ridge", "kind": "coef", "weight": 1.0},
    {"family": "univariate", "kind": "rank_ic", "weight": 0.5},
    {"family": "univariate", "kind": "partial_rank_ic", "weight": 1.0},
)
"""feature_selection's default importances when this was written; the loop uses the
resolved ones the pipeline child reports."""
DEFAULT_DEMEAN = {"ranking": True, "selection": False, "training": True}
"""Which phases learn regression targets net of each timestamp's mean (the stages'
defaults when this was written; the loop uses the pipeline child's resolved ones)."""
MIRRORED_IMPORTANCES = {
    ("lightgbm", "gain"),
    ("lightgbm", "permutation"),
    ("ridge", "coef"),
    ("univariate", "rank_ic"),
    ("univariate", "partial_rank_ic"),
}


def write_data(workdir: Path, scale: Scale, threads: int) -> Path:
    """The panel (parquet), its description (JSON) and the experiment YAML; returns the YAML."""
    import yaml

    from panelml.data.synthetic import make_panel

    synthetic = make_panel(
        n_symbols=scale.n_symbols,
        n_timestamps=scale.n_timestamps,
        n_signal_features=scale.n_signal_features,
        n_noise_features=scale.n_noise_features,
        targets=TARGETS,
        leaks=False,
        seed=0,
    )
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    synthetic.frame.write_parquet(data_dir / "panel.parquet")
    names = {s.name for s in TARGETS}
    features = [c for c in synthetic.frame.columns if c not in {"symbol", "timestamp", *names}]
    described = {
        "features": features,
        "targets": [s.name for s in TARGETS],
        "horizons": {s.name: s.horizon for s in TARGETS},
        "binary": [s.name for s in TARGETS if s.kind == "binary"],
    }
    (data_dir / "panel.json").write_text(json.dumps(described, indent=2))
    config = {
        "experiment": {"name": EXPERIMENT},
        "data": {
            "path": "data/panel.parquet",
            "targets": described["targets"],
            "horizons": described["horizons"],
            "binary_targets": described["binary"],
            "bar_interval": "1d",
        },
        "validation": {"scheme": "purged_kfold", "n_splits": N_SPLITS, "embargo_pct": EMBARGO_PCT},
        "runtime": {
            "seed": MASTER_SEED,
            "output_dir": "runs",
            "cache_dir": ".panelml/cache",
            "threads_per_worker": threads,
            "quiet": True,
        },
    }
    path = workdir / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- the pipeline side ------------------------------------------------------------------


def pipeline_side(job: Mapping[str, Any]) -> dict[str, Any]:
    """Run the default pipeline once, instrumented; what the parent needs from it."""
    timer = FitTimer().install()
    import polars as pl

    import panelml
    import panelml.stages  # built-in stages, imported before the RSS baseline
    from panelml.pipeline.events import EventBus, StageEnded, StageFailed, StageStarted

    panelml_only_rss = current_rss_bytes()
    # the libraries the loop side imports before its baseline, imported here too so
    # both baselines hold the same code (panelml imports them on first use; the
    # fit timer above has imported lightgbm already)
    import lightgbm  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    baseline_rss = current_rss_bytes()
    bus = EventBus()
    per_stage: dict[str, dict[str, Any]] = {}
    started: dict[str, tuple[float, float, float, dict[str, float]]] = {}

    def mark() -> tuple[float, float, float, dict[str, float]]:
        return time.process_time(), timer.total, timer.cpu_total, dict(timer.cpu_seconds)

    def on_start(event: StageStarted) -> None:
        started[event.stage] = mark()

    def on_end(event: StageEnded | StageFailed) -> None:
        cpu0, floor0, floor_cpu0, kinds0 = started.pop(event.stage, mark())
        per_stage[event.stage] = {
            "cpu_s": round(time.process_time() - cpu0, 4),
            "floor_s": round(timer.total - floor0, 4),
            "floor_cpu_s": round(timer.cpu_total - floor_cpu0, 4),
            "floor_cpu_by_kind_s": {
                k: round(v - kinds0[k], 4) for k, v in timer.cpu_seconds.items()
            },
            "peak_rss_so_far_bytes": peak_rss_bytes(),
            "rss_after_bytes": current_rss_bytes(),
        }

    bus.subscribe(on_start, StageStarted)
    bus.subscribe(on_end, StageEnded)
    bus.subscribe(on_end, StageFailed)
    t0, cpu0 = time.perf_counter(), time.process_time()
    error = None
    executor = job.get("executor", "serial")
    # one output folder per executor: the stability stage compares a run with the
    # earlier runs of its folder, which must not depend on which executors ran before
    overrides = [f"runtime.executor={executor}", f"runtime.output_dir=runs_{executor}"]
    if executor != "serial" and job.get("workers", "auto") != "auto":
        overrides.append(f"runtime.n_workers={job['workers']}")
    try:
        result = panelml.run(
            job["config"],
            overrides=overrides,
            no_cache=True,
            quiet=True,
            run_id=f"repeat{job['repeat']}_{executor}",
            events=bus,
        )
    except Exception as exc:  # report what ran, then fail in the parent's table
        error = f"{type(exc).__name__}: {exc}"
        result = None
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if executor == "process":  # join the reusable loky workers so their CPU is counted
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    out: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "floor": timer.snapshot(),
        "baseline_rss_bytes": baseline_rss,
        "baseline_rss_panelml_only_bytes": panelml_only_rss,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_children_bytes": peak_rss_children_bytes(),
        "children_cpu_s": round(children_cpu_seconds(), 3),
        "executor": executor,
        "error": error,
        "stages": {},
    }
    if result is None:
        return out
    from panelml.pipeline.results import frame_digest

    out["table_digests"] = {
        f"{stage}/{name}": frame_digest(frame)
        for stage, tables in sorted(result.tables().items())
        for name, frame in sorted(tables.items())
    }
    for record in result.manifest["stages"]:
        name = record["name"]
        out["stages"][name] = {
            "status": record["status"],
            "seconds": record["seconds"],
            **per_stage.get(name, {}),
        }
    out["manifest_seconds"] = result.manifest.get("seconds")
    from panelml.stages.ranking import RANKING_FAMILY_DEFAULTS

    out["ranking_params"] = RANKING_FAMILY_DEFAULTS.get("lightgbm", {})
    stage_params = _resolved_stage_params(result.run_dir)
    out["importances"] = stage_params.get("feature_selection", {}).get("importances")
    out["training_families"] = stage_params.get("training", {}).get("families")
    training = stage_params.get("training", {})
    transform = training.get("target_transform", "none")
    out["demean"] = {
        "ranking": bool(stage_params.get("target_ranking", {}).get("demean", False)),
        "selection": bool(stage_params.get("feature_selection", {}).get("demean", False)),
        "training": transform == "demean"
        or (transform == "auto" and training.get("scope", "pooled") == "pooled"),
    }
    out["fold_digests"] = _stage_fold_digests(job["config"])
    ranking = pl.read_parquet(result.run_dir / "target_ranking" / "ranking.parquet")
    out["ranking"] = {
        row["target"]: {k: row.get(k) for k in ("status", "score", "lightgbm_ic", "ridge_ic")}
        for row in ranking.iter_rows(named=True)
    }
    selection: Any = result.results.get("feature_selection")
    ranking_result: Any = result.results["target_ranking"]
    selected = ranking_result.selected_targets()
    out["selected_targets"] = selected
    out["selected_features"] = {
        t: selection.selected_features(t) if selection is not None else [] for t in selected
    }
    metrics_path = result.run_dir / "training" / "metrics.parquet"
    if metrics_path.exists():
        metrics = pl.read_parquet(metrics_path).filter(pl.col("fold") == -1)
        out["training_ic"] = {
            f"{row['target']}/{row['family']}": row["ic_mean"]
            for row in metrics.iter_rows(named=True)
        }
    return out


def _resolved_stage_params(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each stage's resolved params, from the run's ``config.yaml``."""
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return {e["name"]: e.get("params") or {} for e in config["pipeline"]["stages"]}


def _stage_fold_digests(config: str) -> dict[str, str]:
    """A digest of the folds the stages plan for every target (after the run and
    its memory peak), to check that the loop uses the very same rows."""
    from panelml.api import load_config
    from panelml.data import load_panel  # type: ignore[attr-defined,unused-ignore]
    from panelml.stages.fitting import plan_folds, target_rows

    cfg = load_config(config)
    panel = load_panel(cfg.data, base_dir=cfg.base_dir)
    out = {}
    for target in panel.target_names:
        folds = plan_folds(
            panel, target, cfg.validation, target_rows(panel, target), early_stopping=True
        )
        out[target] = fold_digest([(f.train, f.test, f.fit, f.val) for f in folds])
    return out


def fold_digest(folds: Sequence[tuple[Any, ...]]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for arrays in folds:
        for a in arrays:
            digest.update(np.asarray(a, dtype=np.int64).tobytes())
            digest.update(b"|")
    return digest.hexdigest()[:16]


# -- the plain loop -------------------------------------------------------------------


@dataclass
class Data:
    X: F32
    targets: dict[str, F64]
    horizons: dict[str, int]
    binary: set[str]
    timestamps: I64
    n_timestamps: int
    n_symbols: int
    features: list[str]


@dataclass
class Split:
    train: I64
    test: I64
    fit: I64
    val: I64


@dataclass
class LoopLog:
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    ranking_ic: dict[str, dict[str, float]] = field(default_factory=dict)
    fold_digests: dict[str, str] = field(default_factory=dict)
    not_mirrored: list[str] = field(default_factory=list)
    selected_targets: list[str] = field(default_factory=list)
    selected_features: dict[str, list[str]] = field(default_factory=dict)
    training_ic: dict[str, float] = field(default_factory=dict)
    n_fits: dict[str, int] = field(default_factory=dict)


def load_data(data_dir: Path) -> Data:
    """Read the parquet as a user would: polars, sorted by (timestamp, symbol)."""
    import polars as pl

    described = json.loads((data_dir / "panel.json").read_text())
    frame = pl.read_parquet(data_dir / "panel.parquet").sort(["timestamp", "symbol"])
    X = np.ascontiguousarray(frame.select(described["features"]).to_numpy(), dtype=np.float32)
    timestamps = frame["timestamp"].cast(pl.Int64).to_numpy()
    return Data(
        X=X,
        targets={t: frame[t].to_numpy().astype(np.float64) for t in described["targets"]},
        horizons={k: int(v) for k, v in described["horizons"].items()},
        binary=set(described["binary"]),
        timestamps=timestamps,
        n_timestamps=int(np.unique(timestamps).size),
        n_symbols=int(frame["symbol"].n_unique()),
        features=list(described["features"]),
    )


def child_seed(*purpose: str | int) -> int:
    """The seed panelml's ``RunContext.child_seed`` gives for ``purpose`` (master seed 42)."""
    import hashlib

    text = "/".join([str(MASTER_SEED), *map(str, purpose)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def purged_splits(data: Data, target: str) -> tuple[I64, list[Split]]:
    """The target's known rows and its purged folds (the ``validation:`` defaults: 5
    folds, 1% embargo), each with the inner early-stopping split. As the stages do,
    the folds are cut on all of the panel's timestamps, then rows without a label
    are dropped."""
    from panelml.validation import PurgedKFold, inner_validation_split

    y = data.targets[target]
    h = data.horizons[target]
    known = np.isfinite(y)
    rows = np.flatnonzero(known).astype(np.int64)
    embargo = math.floor(EMBARGO_PCT * data.n_timestamps)
    splitter = PurgedKFold(N_SPLITS, horizon=h, embargo=embargo)
    splits = []
    for train_all, test_all in splitter.split(groups=data.timestamps):
        train, test = train_all[known[train_all]], test_all[known[test_all]]
        if train.size == 0 or test.size == 0:
            continue
        fit, val = inner_validation_split(train, data.timestamps, h, ES_FRACTION, embargo)
        splits.append(Split(train, test, fit, val))
    return rows, splits


def label(data: Data, target: str, demean: bool) -> F64:
    """The target, minus each timestamp's mean of its known values when ``demean``."""
    y = data.targets[target]
    if not demean:
        return y
    known = np.isfinite(y)
    _, codes = np.unique(data.timestamps, return_inverse=True)
    sums = np.bincount(codes[known], weights=y[known], minlength=data.n_timestamps)
    counts = np.bincount(codes[known], minlength=data.n_timestamps)
    means = np.divide(sums, counts, out=np.zeros(data.n_timestamps), where=counts > 0)
    return np.where(known, y - means[codes], np.nan)


def lgb_params(stage_defaults: Mapping[str, Any], binary: bool, threads: int) -> dict[str, Any]:
    """LightGBM params as the pipeline stage uses them (family defaults + the stage's)."""
    from panelml.models.lightgbm import LightGBMFamily

    params = {**LightGBMFamily.default_params, **stage_defaults}
    params["objective"] = "binary" if binary else "regression"
    params["num_threads"] = threads
    return params


def lgb_fit(
    params: Mapping[str, Any],
    X_fit: F32,
    y_fit: F64,
    eval_set: tuple[F32, F64] | None,
    seed: int,
    rounds: int | None = None,
) -> Any:
    """A fresh Dataset and ``lgb.train``; early stopping when ``eval_set`` is given."""
    import lightgbm as lgb

    p = dict(params)
    n_rounds = int(rounds if rounds is not None else p.pop("n_estimators"))
    p.pop("n_estimators", None)
    stop = int(p.pop("early_stopping_rounds"))
    p["seed"] = seed
    train = lgb.Dataset(X_fit, label=y_fit)
    if eval_set is None:
        return lgb.train(p, train, num_boost_round=n_rounds)
    valid = lgb.Dataset(eval_set[0], label=eval_set[1], reference=train)
    return lgb.train(
        p,
        train,
        num_boost_round=n_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(stop, first_metric_only=True, verbose=False)],
    )


def linear_fit(X: F32, y: F64, binary: bool) -> tuple[Any, Any]:
    """StandardScaler + Ridge(alpha=1) (regression) / LogisticRegression(C=1) (binary)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    model = LogisticRegression(C=1.0, max_iter=1000) if binary else Ridge(alpha=1.0)
    return scaler, model.fit(Z, y)


def linear_predict(scaler: Any, model: Any, X: F32, binary: bool) -> F64:
    Z = scaler.transform(X)
    out = model.predict_proba(Z)[:, 1] if binary else model.predict(Z)
    return np.asarray(out, dtype=np.float64)


def mean_ic(pred: F64, y: F64, ts: I64) -> float:
    """Mean per-timestamp Spearman IC (panelml's metric function, Qlib convention)."""
    from panelml.validation import ic_series

    series = ic_series(pred, y, ts, method="rank", min_names=MIN_NAMES)
    return float(np.mean(series.values)) if len(series.values) else 0.0


def within_timestamp_order(ts: I64, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Indices that shuffle values within each timestamp (rows sorted by timestamp)."""
    return np.lexsort((rng.random(ts.size), ts))


def shadow_columns(data: Data, rng: np.random.Generator) -> F32:
    """Boruta shadows: per column one permutation of the symbols (complete grid)."""
    T, N, F = data.n_timestamps, data.n_symbols, data.X.shape[1]
    grid = data.X.reshape(T, N, F)
    out = np.empty((T, N, F), dtype=np.float32)
    for j in range(F):
        out[:, :, j] = grid[:, rng.permutation(N), j]
    return out.reshape(T * N, F)


def plain_loop(
    data: Data,
    threads: int,
    n_targets: int,
    n_features: Mapping[str, int],
    default_n_features: int,
    model_dir: Path,
    ranking_params: Mapping[str, Any] | None = None,
    importances: Sequence[Mapping[str, Any]] = DEFAULT_IMPORTANCES,
    training_families: Sequence[str] = ("lightgbm", "ridge"),
    demean: Mapping[str, bool] = DEFAULT_DEMEAN,
) -> LoopLog:
    """The pipeline's modelling work as plain LightGBM + sklearn code.

    1. Ranking (every target): for each of its purged folds, LightGBM with the
       ranking params (150 trees, lr 0.1, 15 leaves, early stopping 20 on the
       inner block; seeds as the ranking stage's) on a fresh Dataset of the fold's
       fit rows, predicting the test rows; and StandardScaler + Ridge /
       LogisticRegression on the fold's training rows. Regression targets are
       learned net of each timestamp's mean when the stage does so (``demean``,
       the resolved flags the pipeline child reports; also for steps 2 and 3).
       Score: mean per-timestamp rank IC of each family's OOF predictions; a
       target's score is the mean of its two families' ICs; the ``n_targets``
       best (the pipeline's number of selected targets) go on.
    2. Selection (each chosen target): X plus one shadow per feature (symbols
       permuted per column); per fold, the importances the stage is configured
       with (``importances``: the resolved list the pipeline child reports), of
       the kinds in :data:`MIRRORED_IMPORTANCES`: LightGBM (family defaults:
       200 trees, lr 0.05, 31 leaves, early stopping) gain, and permutation
       importance of the top-20 real and top-20 shadow columns by gain on the
       test rows (at most 200 per timestamp; one shuffle within timestamps and
       one predict each); Ridge / LogisticRegression |coef| on standardised
       columns (training rows); univariate |rank IC| of every column and the
       partial rank IC (target ranks regressed on all columns' ranks per
       timestamp, numpy) on the training rows. Each is normalised per fold
       and averaged with the configured weights; the best ``n_features[target]``
       features (the pipeline's count for the target) are kept.
    3. Training (each chosen target with at least one kept feature), for the
       training stage's families (``lightgbm`` and ``ridge`` are mirrored):
       per fold LightGBM (family defaults, early stopping) and StandardScaler +
       Ridge / LogisticRegression; a final LightGBM on every known row with the
       median best iteration and a final linear model; models saved (LightGBM
       text, coefficients as .npy).

    Kinds or families not mirrored are listed in ``LoopLog.not_mirrored``.
    """
    log = LoopLog()
    names = list(data.targets)
    splits = {t: purged_splits(data, t) for t in names}
    log.fold_digests = {
        t: fold_digest([(s.train, s.test, s.fit, s.val) for s in splits[t][1]]) for t in names
    }

    # 1. ranking
    t0, cpu0 = time.perf_counter(), time.process_time()
    rank_defaults = ranking_params or RANKING_LIGHTGBM
    fits = 0
    for target in names:
        binary = target in data.binary
        y = label(data, target, demean["ranking"] and not binary)
        params = lgb_params(rank_defaults, binary, threads)
        rows, folds = splits[target]
        oof_lgb, oof_lin = np.full(y.size, np.nan), np.full(y.size, np.nan)
        seed = child_seed("target_ranking", "fit", "lightgbm", target)
        for s in folds:
            booster = lgb_fit(params, data.X[s.fit], y[s.fit], (data.X[s.val], y[s.val]), seed)
            oof_lgb[s.test] = booster.predict(data.X[s.test], num_iteration=booster.best_iteration)
            scaler, model = linear_fit(data.X[s.train], y[s.train], binary)
            oof_lin[s.test] = linear_predict(scaler, model, data.X[s.test], binary)
            fits += 2
        ts, y = data.timestamps[rows], data.targets[target]
        log.ranking_ic[target] = {
            "lightgbm": mean_ic(oof_lgb[rows], y[rows], ts),
            "ridge": mean_ic(oof_lin[rows], y[rows], ts),
        }
    log.n_fits["ranking"] = fits
    order = sorted(names, key=lambda t: -float(np.mean(list(log.ranking_ic[t].values()))))
    log.selected_targets = order[:n_targets]
    log.seconds["ranking"] = time.perf_counter() - t0
    log.cpu_seconds["ranking"] = time.process_time() - cpu0

    # 2. selection
    t0, cpu0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(0)
    n_real = data.X.shape[1]
    weights = {(i["family"], i["kind"]): float(i["weight"]) for i in importances}
    wanted = set(weights) & MIRRORED_IMPORTANCES
    log.not_mirrored = [f"feature_selection {f}/{k}" for f, k in sorted(set(weights) - wanted)]
    X_aug = np.ascontiguousarray(np.hstack([data.X, shadow_columns(data, rng)]))
    fits = 0
    for target in log.selected_targets:
        binary = target in data.binary
        y = label(data, target, demean["selection"] and not binary)
        params = lgb_params({}, binary, threads)
        rows, folds = splits[target]
        per_fold: list[F64] = []
        for s in folds:
            found: dict[tuple[str, str], F64] = {}
            if wanted & {("lightgbm", "gain"), ("lightgbm", "permutation")}:
                booster = lgb_fit(params, X_aug[s.fit], y[s.fit], (X_aug[s.val], y[s.val]), 0)
                gain = booster.feature_importance("gain").astype(np.float64)
                found["lightgbm", "gain"] = gain
                if ("lightgbm", "permutation") in wanted:
                    found["lightgbm", "permutation"] = permutation_importance(
                        booster, X_aug, y, data.timestamps, s.test, gain, n_real, rng
                    )
                fits += 1
            if ("ridge", "coef") in wanted:
                _, model = linear_fit(X_aug[s.train], y[s.train], binary)
                found["ridge", "coef"] = np.abs(np.ravel(model.coef_)).astype(np.float64)
                fits += 1
            if ("univariate", "rank_ic") in wanted:
                ts_train, block = data.timestamps[s.train], X_aug[s.train]
                found["univariate", "rank_ic"] = np.array(
                    [abs(mean_ic(block[:, j], y[s.train], ts_train)) for j in range(block.shape[1])]
                )
            if ("univariate", "partial_rank_ic") in wanted:
                found["univariate", "partial_rank_ic"] = partial_rank_ic(
                    X_aug[s.train], y[s.train], data.n_symbols
                )
            combined = np.zeros(X_aug.shape[1])
            for key, values in found.items():
                combined += weights[key] * _normalised(values)
            per_fold.append(combined / sum(weights[k] for k in found))
        score = np.mean(per_fold, axis=0)
        m = n_features.get(target)
        if m is None:
            beats = int(np.sum(score[:n_real] > score[n_real:].max()))
            m = min(default_n_features, max(1, beats))
        keep = np.argsort(-score[:n_real], kind="stable")[:m]
        log.selected_features[target] = [data.features[i] for i in keep]
    log.n_fits["selection"] = fits
    del X_aug
    log.seconds["selection"] = time.perf_counter() - t0
    log.cpu_seconds["selection"] = time.process_time() - cpu0

    # 3. training
    t0, cpu0 = time.perf_counter(), time.process_time()
    use_lgb, use_lin = "lightgbm" in training_families, "ridge" in training_families
    log.not_mirrored += [
        f"training {f}" for f in training_families if f not in ("lightgbm", "ridge")
    ]
    fits = 0
    for target in log.selected_targets:
        binary = target in data.binary
        y = label(data, target, demean["training"] and not binary)
        params = lgb_params({}, binary, threads)
        cols = [data.features.index(f) for f in log.selected_features[target]]
        if not cols:  # the pipeline's training skips a target with no selected feature
            continue
        Xt = np.ascontiguousarray(data.X[:, cols])
        rows, folds = splits[target]
        oof_lgb, oof_lin = np.full(y.size, np.nan), np.full(y.size, np.nan)
        best = []
        where = model_dir / target
        where.mkdir(parents=True, exist_ok=True)
        ts, y_raw = data.timestamps[rows], data.targets[target]
        if use_lgb:
            for s in folds:
                booster = lgb_fit(params, Xt[s.fit], y[s.fit], (Xt[s.val], y[s.val]), 0)
                best.append(booster.best_iteration or booster.current_iteration())
                oof_lgb[s.test] = booster.predict(Xt[s.test], num_iteration=booster.best_iteration)
            final = lgb_fit(params, Xt[rows], y[rows], None, 0, rounds=int(np.median(best)))
            final.save_model(str(where / "lightgbm.txt"))
            log.training_ic[f"{target}/lightgbm"] = mean_ic(oof_lgb[rows], y_raw[rows], ts)
            fits += len(folds) + 1
        if use_lin:
            for s in folds:
                scaler, model = linear_fit(Xt[s.train], y[s.train], binary)
                oof_lin[s.test] = linear_predict(scaler, model, Xt[s.test], binary)
            scaler, model = linear_fit(Xt[rows], y[rows], binary)
            np.save(where / "linear_coef.npy", np.ravel(model.coef_) / scaler.scale_)
            log.training_ic[f"{target}/ridge"] = mean_ic(oof_lin[rows], y_raw[rows], ts)
            fits += len(folds) + 1
    log.n_fits["training"] = fits
    log.seconds["training"] = time.perf_counter() - t0
    log.cpu_seconds["training"] = time.process_time() - cpu0
    return log


def partial_rank_ic(X: F32, y: F64, n_symbols: int, ridge: float = 1e-3) -> F64:
    """|coefficient| of every column when the target's within-timestamp ranks are
    regressed on all columns' within-timestamp ranks (standardised per timestamp,
    pooled least squares with a ``ridge * n`` penalty): a rank correlation given
    the other columns. Rows are whole cross-sections of ``n_symbols`` (complete grid)."""
    from scipy.stats import rankdata

    T = X.shape[0] // n_symbols

    def standardised_ranks(a: npt.NDArray[Any]) -> F64:
        r = rankdata(a.reshape(T, n_symbols, -1), axis=1)
        r -= r.mean(axis=1, keepdims=True)
        sd = r.std(axis=1, keepdims=True)
        return np.asarray(np.where(sd > 0, r / np.where(sd > 0, sd, 1.0), 0.0)).reshape(
            T * n_symbols, -1
        )

    Z, r = standardised_ranks(X), standardised_ranks(y)[:, 0]
    gram = Z.T @ Z
    gram[np.diag_indices_from(gram)] += ridge * Z.shape[0]
    return np.asarray(np.abs(np.linalg.solve(gram, Z.T @ r)), dtype=np.float64)


def _normalised(values: F64) -> F64:
    v = np.clip(np.nan_to_num(values), 0.0, None)
    total = float(v.sum())
    return v / total if total > 0 else v


def permutation_importance(
    booster: Any,
    X_aug: F32,
    y: F64,
    timestamps: I64,
    test: I64,
    gain: F64,
    n_real: int,
    rng: np.random.Generator,
    top_k: int = 20,
    max_per_timestamp: int = 200,
) -> F64:
    """Drop in mean rank IC when each of the top-k real and top-k shadow columns
    (by gain) is shuffled within timestamps, on at most ``max_per_timestamp`` test
    rows per timestamp."""
    ts = timestamps[test]
    order = within_timestamp_order(ts, rng)
    _, starts = np.unique(ts[order], return_index=True)
    position = np.arange(ts.size) - np.repeat(starts, np.diff(np.append(starts, ts.size)))
    rows = np.sort(test[order[position < max_per_timestamp]])
    X_test, yt, tt = np.array(X_aug[rows]), y[rows], timestamps[rows]
    base = mean_ic(booster.predict(X_test, num_iteration=booster.best_iteration), yt, tt)
    out = np.zeros(X_aug.shape[1])
    real, shadow = np.arange(n_real), np.arange(n_real, X_aug.shape[1])
    chosen = [
        *real[np.argsort(-gain[real], kind="stable")[:top_k]],
        *shadow[np.argsort(-gain[shadow], kind="stable")[:top_k]],
    ]
    for col in chosen:
        original = X_test[:, col].copy()
        X_test[:, col] = original[within_timestamp_order(tt, rng)]
        pred = booster.predict(X_test, num_iteration=booster.best_iteration)
        out[col] = base - mean_ic(pred, yt, tt)
        X_test[:, col] = original
    return out


def loop_side(job: Mapping[str, Any]) -> dict[str, Any]:
    """Run the plain loop once, instrumented."""
    timer = FitTimer().install()
    import lightgbm  # noqa: F401
    import polars  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import panelml.validation  # noqa: F401

    baseline_rss = current_rss_bytes()
    t0, cpu0 = time.perf_counter(), time.process_time()
    data = load_data(Path(job["workdir"]) / "data")
    load_s = time.perf_counter() - t0
    model_dir = Path(job["workdir"]) / "loop_models" / f"repeat{job['repeat']}"
    log = plain_loop(
        data,
        threads=int(job["threads"]),
        n_targets=int(job["n_targets"]),
        n_features=job["n_features"],
        default_n_features=30,
        model_dir=model_dir,
        ranking_params=job.get("ranking_params"),
        importances=job.get("importances") or DEFAULT_IMPORTANCES,
        training_families=job.get("training_families") or ("lightgbm", "ridge"),
        demean=job.get("demean") or DEFAULT_DEMEAN,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "load_s": round(load_s, 3),
        "seconds": {k: round(v, 3) for k, v in log.seconds.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in log.cpu_seconds.items()},
        "n_fits": log.n_fits,
        "floor": timer.snapshot(),
        "baseline_rss_bytes": baseline_rss,
        "peak_rss_bytes": peak_rss_bytes(),
        "ranking_ic": log.ranking_ic,
        "fold_digests": log.fold_digests,
        "not_mirrored": log.not_mirrored,
        "selected_targets": log.selected_targets,
        "selected_features": log.selected_features,
        "training_ic": log.training_ic,
    }


# -- the parent: run, repeat, compare, report -------------------------------------------


def child_env(threads: int) -> dict[str, str]:
    """The environment of a bench child: this panelml importable, and ``threads``
    OpenMP/BLAS/polars threads (stages that leave LightGBM's num_threads at 0 use
    them too)."""
    env = dict(os.environ)
    import panelml

    src = str(Path(panelml.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS"):
        env[key] = str(threads)
    return env


def run_child(side: str, job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    tag = f"{side}_{job['repeat']}_{job.get('executor', 'serial')}"
    job_path = workdir / f"job_{tag}.json"
    out_path = workdir / f"out_{tag}.json"
    job_path.write_text(json.dumps({**job, "out": str(out_path)}))
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--side", side, "--job", str(job_path)]
    done = subprocess.run(command, env=child_env(job["threads"]), check=False)
    if done.returncode != 0 or not out_path.exists():
        return {"error": f"{side} child exited with {done.returncode}"}
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def median(values: Sequence[float | None]) -> float | None:
    found = [float(v) for v in values if v is not None]
    return round(statistics.median(found), 4) if found else None


def median_at(runs: Sequence[Mapping[str, Any]], *path: str) -> float | None:
    """The median over ``runs`` of the value at ``path`` (missing values skipped)."""
    values: list[float | None] = []
    for run in runs:
        node: Any = run
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        values.append(node if isinstance(node, int | float) else None)
    return median(values)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def summarise(
    scale_name: str, scale: Scale, args: argparse.Namespace, repeats: list[dict[str, Any]]
) -> dict[str, Any]:
    """Medians over repeats, the comparisons and the goals."""
    pipes = [r["pipeline"] for r in repeats]
    loops = [r["loop"] for r in repeats]
    x_bytes = scale.n_rows * scale.n_features * 4
    ok_pipes = [p for p in pipes if not p.get("error")]
    ok_loops = [lp for lp in loops if not lp.get("error")]
    out: dict[str, Any] = {
        "scale": scale_name,
        "panel": {
            **asdict(scale),
            "n_rows": scale.n_rows,
            "n_features": scale.n_features,
            "n_targets": len(TARGETS),
            "x_float32_bytes": x_bytes,
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "code": code_state(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
            "note": (
                "2 cores shared with other processes (other work's tests): wall times are "
                "noisy; with --threads 1 the CPU seconds measure the work itself"
            ),
        },
    }
    if ok_pipes:
        out["pipeline"] = _pipeline_summary(ok_pipes)
    if ok_loops:
        out["loop"] = _loop_summary(ok_loops)
    if ok_pipes and ok_loops:
        paired = [
            r for r in repeats if not r["pipeline"].get("error") and not r["loop"].get("error")
        ]
        out["comparison"] = compare(ok_pipes[-1], ok_loops[-1], out, x_bytes, paired)
    out["executors"] = compare_executors(repeats, ok_pipes)
    extra = [r for rep in repeats for r in rep.get("executors", {}).values()]
    out["errors"] = [p.get("error") for p in pipes + loops + extra if p.get("error")]
    out["repeats"] = repeats
    return out


def compare_executors(
    repeats: list[dict[str, Any]], base_runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each further executor against the first: median wall, speed-up, peak RSS above
    the post-import baseline (the main process and the largest worker), and whether
    every result table is identical (content digests) in every repeat."""
    if not base_runs:
        return {}

    def rss(run: dict[str, Any]) -> dict[str, float | None]:
        above = run["peak_rss_bytes"] - run["baseline_rss_bytes"]
        return {
            "peak_rss_above_baseline_mib": round(above / 2**20, 1),
            "largest_worker_peak_rss_mib": round(run.get("peak_rss_children_bytes", 0) / 2**20, 1),
        }

    base_name = base_runs[0].get("executor", "serial")
    base_wall = median([r["wall_s"] for r in base_runs])
    out: dict[str, Any] = {
        base_name: {
            "wall_s": base_wall,
            "cpu_s_driver": median([r["cpu_s"] for r in base_runs]),
            **rss(base_runs[-1]),
            "speedup": 1.0,
        },
    }
    names = sorted({n for rep in repeats for n in rep.get("executors", {})})
    for name in names:
        runs = [rep["executors"][name] for rep in repeats if name in rep.get("executors", {})]
        ok = [r for r in runs if not r.get("error")]
        if not ok:
            out[name] = {"error": runs[0].get("error") if runs else "not run"}
            continue
        identical = all(
            r.get("table_digests") == rep["pipeline"].get("table_digests")
            for rep in repeats
            for r in [rep.get("executors", {}).get(name)]
            if r and not r.get("error") and not rep["pipeline"].get("error")
        )
        wall = median([r["wall_s"] for r in ok])
        out[name] = {
            "wall_s": wall,
            "cpu_s_driver": median([r["cpu_s"] for r in ok]),
            "cpu_s_joined_workers": median([r.get("children_cpu_s") for r in ok]),
            **rss(ok[-1]),
            "speedup": _ratio(base_wall, wall),
            "tables_identical_to_" + base_name: identical,
        }
    return out


def code_state() -> dict[str, Any]:
    """The commit and the uncommitted files under src/ (read-only git calls)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.rstrip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_src": git("status", "--porcelain", "--", "src").splitlines(),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _pipeline_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Callable[[dict[str, Any]], Any]) -> float | None:
        return median([get(p) for p in runs])

    modelling = ("target_ranking", "feature_selection", "training")
    summary: dict[str, Any] = {
        "wall_s": med(lambda p: p["wall_s"]),
        "cpu_s": med(lambda p: p["cpu_s"]),
        "modelling_wall_s": med(
            lambda p: sum(p["stages"].get(s, {}).get("seconds") or 0.0 for s in modelling)
        ),
        "modelling_cpu_s": med(
            lambda p: sum(p["stages"].get(s, {}).get("cpu_s") or 0.0 for s in modelling)
        ),
        "stages": {
            name: {
                key: median_at(runs, "stages", name, key)
                for key in ("seconds", "cpu_s", "floor_s", "floor_cpu_s", "peak_rss_so_far_bytes")
            }
            for name in runs[0]["stages"]
        },
        "floor_s": med(lambda p: p["floor"]["total_s"]),
        "floor_cpu_s": med(lambda p: p["floor"]["cpu_total_s"]),
        "floor_by_kind_s": {k: median_at(runs, "floor", "seconds", k) for k in FLOOR_KINDS},
        "floor_cpu_by_kind_s": {k: median_at(runs, "floor", "cpu_seconds", k) for k in FLOOR_KINDS},
        "overhead_ratio": med(lambda p: p["wall_s"] / p["floor"]["total_s"]),
        "overhead_ratio_library_calls_only": med(
            lambda p: p["wall_s"] / p["floor"]["library_total_s"]
        ),
        "overhead_ratio_without_predict": med(
            lambda p: p["wall_s"] / (p["floor"]["total_s"] - p["floor"]["seconds"]["predict"])
        ),
        "overhead_ratio_cpu": med(lambda p: p["cpu_s"] / p["floor"]["cpu_total_s"]),
        "overhead_ratio_cpu_without_predict": med(
            lambda p: (
                p["cpu_s"] / (p["floor"]["cpu_total_s"] - p["floor"]["cpu_seconds"]["predict"])
            )
        ),
        "peak_rss_bytes": med(lambda p: p["peak_rss_bytes"]),
        "baseline_rss_bytes": med(lambda p: p["baseline_rss_bytes"]),
        "baseline_rss_panelml_only_bytes": med(
            lambda p: p.get("baseline_rss_panelml_only_bytes", p["baseline_rss_bytes"])
        ),
        "selected_targets": runs[-1]["selected_targets"],
        "n_selected_features": {t: len(v) for t, v in runs[-1]["selected_features"].items()},
    }
    return summary


def _loop_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Callable[[dict[str, Any]], Any]) -> float | None:
        return median([get(lp) for lp in runs])

    phases = list(runs[0]["seconds"])
    return {
        "wall_s": med(lambda lp: lp["wall_s"]),
        "cpu_s": med(lambda lp: lp["cpu_s"]),
        "load_s": med(lambda lp: lp["load_s"]),
        "modelling_wall_s": med(lambda lp: sum(lp["seconds"].values())),
        "modelling_cpu_s": med(lambda lp: sum(lp["cpu_seconds"].values())),
        "phases_s": {k: median_at(runs, "seconds", k) for k in phases},
        "phases_cpu_s": {k: median_at(runs, "cpu_seconds", k) for k in phases},
        "n_fits": runs[0]["n_fits"],
        "floor_s": med(lambda lp: lp["floor"]["total_s"]),
        "floor_cpu_s": med(lambda lp: lp["floor"]["cpu_total_s"]),
        "floor_cpu_by_kind_s": {
            k: median_at(runs, "floor", "cpu_seconds", k) for k in ("binning", "fit", "predict")
        },
        "peak_rss_bytes": med(lambda lp: lp["peak_rss_bytes"]),
        "baseline_rss_bytes": med(lambda lp: lp["baseline_rss_bytes"]),
        "selected_targets": runs[-1]["selected_targets"],
    }


def compare(
    pipe: Mapping[str, Any],
    loop: Mapping[str, Any],
    out: Mapping[str, Any],
    x_bytes: int,
    paired: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Scores of the last repeat (equal across repeats: seeded), memory medians, and
    speed-ups as the median over repeats of loop / pipeline within a repeat (the two
    children of a repeat run back to back, so they share the machine's load best)."""
    targets = [t for t in loop["ranking_ic"] if t in pipe["ranking"]]
    p_ic = [float(pipe["ranking"][t]["lightgbm_ic"]) for t in targets]
    l_ic = [float(loop["ranking_ic"][t]["lightgbm"]) for t in targets]
    p_ridge = [float(pipe["ranking"][t]["ridge_ic"]) for t in targets]
    l_ridge = [float(loop["ranking_ic"][t]["ridge"]) for t in targets]
    training = {
        k: {"pipeline": round(v, 5), "loop": round(loop["training_ic"][k], 5)}
        for k, v in pipe.get("training_ic", {}).items()
        if k in loop["training_ic"] and v is not None
    }
    ps, ls = out["pipeline"], out["loop"]
    peak, base = ps["peak_rss_bytes"], ps["baseline_rss_bytes"]
    modelling = ("target_ranking", "feature_selection", "training")

    def speedup(loop_s: Callable[[Any], float], pipe_s: Callable[[Any], float]) -> list[float]:
        return [round(loop_s(r["loop"]) / pipe_s(r["pipeline"]), 3) for r in paired]

    walls = speedup(lambda lp: lp["wall_s"], lambda p: p["wall_s"])
    cpus = speedup(lambda lp: lp["cpu_s"], lambda p: p["cpu_s"])
    speedup_wall, speedup_cpu = median(walls), median(cpus)
    return {
        "speedup_wall": speedup_wall,
        "speedup_cpu": speedup_cpu,
        "speedup_wall_per_repeat": walls,
        "speedup_cpu_per_repeat": cpus,
        "speedup_modelling_wall": median(
            speedup(
                lambda lp: sum(lp["seconds"].values()),
                lambda p: sum(p["stages"][s]["seconds"] for s in modelling if s in p["stages"]),
            )
        ),
        "speedup_modelling_cpu": median(
            speedup(
                lambda lp: sum(lp["cpu_seconds"].values()),
                lambda p: sum(p["stages"][s]["cpu_s"] for s in modelling if s in p["stages"]),
            )
        ),
        "ranking_lightgbm_ic": {
            t: {"pipeline": round(a, 5), "loop": round(b, 5)}
            for t, a, b in zip(targets, p_ic, l_ic, strict=True)
        },
        "max_abs_ic_diff_lightgbm": round(
            max(abs(a - b) for a, b in zip(p_ic, l_ic, strict=True)), 5
        ),
        "spearman_target_order_lightgbm": round(_spearman(p_ic, l_ic), 4),
        "max_abs_ic_diff_ridge": round(
            max(abs(a - b) for a, b in zip(p_ridge, l_ridge, strict=True)), 5
        ),
        "spearman_target_order_ridge": round(_spearman(p_ridge, l_ridge), 4),
        "same_folds_all_targets": bool(pipe.get("fold_digests"))
        and pipe.get("fold_digests") == loop.get("fold_digests"),
        "same_selected_targets": sorted(pipe["selected_targets"])
        == sorted(loop["selected_targets"]),
        "training_oof_ic": training,
        "pipeline_peak_rss_over_x": round(peak / x_bytes, 2),
        "pipeline_peak_rss_above_baseline_over_x": round((peak - base) / x_bytes, 2),
        # the baseline taken before lightgbm and scikit-learn were imported (their
        # code counted as the pipeline's memory; the definition of earlier runs)
        "pipeline_peak_rss_above_panelml_imports_over_x": round(
            (peak - ps["baseline_rss_panelml_only_bytes"]) / x_bytes, 2
        ),
        "loop_peak_rss_over_x": round(ls["peak_rss_bytes"] / x_bytes, 2),
        "loop_peak_rss_above_baseline_over_x": round(
            (ls["peak_rss_bytes"] - ls["baseline_rss_bytes"]) / x_bytes, 2
        ),
        "goals": {
            "overhead_ratio<=1.10 (wall)": (ps["overhead_ratio"] or math.inf) <= 1.10,
            "overhead_ratio<=1.10 (cpu)": (ps["overhead_ratio_cpu"] or math.inf) <= 1.10,
            "speedup>=1.5 (wall)": (speedup_wall or 0.0) >= 1.5,
            "speedup>=1.5 (cpu)": (speedup_cpu or 0.0) >= 1.5,
            "peak_rss<=2x_X": peak <= 2 * x_bytes,
            "peak_rss_above_imports<=2x_X": (peak - base) <= 2 * x_bytes,
        },
    }


def print_report(report: Mapping[str, Any]) -> None:
    mb = 1024 * 1024

    def row(label: str, *cells: Any) -> None:
        print(f"  {label:<30}" + "".join(f"{'' if c is None else c!s:>12}" for c in cells))

    panel = report["panel"]
    print(
        f"\npanelml pipeline benchmark, scale {report['scale']}: {panel['n_rows']:,} rows x "
        f"{panel['n_features']} features x {panel['n_targets']} targets "
        f"(X float32 {panel['x_float32_bytes'] / mb:.1f} MiB); medians of "
        f"{len(report['repeats'])} repeat(s); {report['args']['threads']} thread(s); "
        f"{report['machine']['cpus']} cores shared with other work (load average at end "
        f"{report['machine']['load_average_at_end']})"
    )
    pipe, loop = report.get("pipeline"), report.get("loop")
    if pipe:
        print()
        row("pipeline stage", "wall s", "floor s", "cpu s", "floor cpu s")
        for name, st in pipe["stages"].items():
            row(name, st["seconds"], st["floor_s"], st["cpu_s"], st["floor_cpu_s"])
        row(
            "run() total (incl. load)",
            pipe["wall_s"],
            pipe["floor_s"],
            pipe["cpu_s"],
            pipe["floor_cpu_s"],
        )
        kinds = pipe["floor_cpu_by_kind_s"]
        print(
            f"  floor cpu s by kind: binning {kinds['binning']}, fit {kinds['fit']}, "
            f"predict {kinds['predict']}, panelml's linear families {kinds.get('own_model')}"
        )
        print(
            f"  overhead ratio (run / floor), goal <= 1.10: wall {pipe['overhead_ratio']} "
            f"(over the library calls alone: {pipe.get('overhead_ratio_library_calls_only')}), "
            f"cpu {pipe['overhead_ratio_cpu']}; floor without predict: wall "
            f"{pipe['overhead_ratio_without_predict']}, cpu "
            f"{pipe['overhead_ratio_cpu_without_predict']}"
        )
    if loop:
        print()
        row("plain loop phase", "wall s", "", "cpu s")
        row("load parquet", loop["load_s"])
        for name, s in loop["phases_s"].items():
            row(name, s, "", loop["phases_cpu_s"][name])
        row("total", loop["wall_s"], loop["floor_s"], loop["cpu_s"], loop["floor_cpu_s"])
        kinds = loop["floor_cpu_by_kind_s"]
        print(
            f"  fits {loop['n_fits']}; floor cpu s by kind: binning {kinds['binning']}, "
            f"fit {kinds['fit']}, predict {kinds['predict']}"
        )
    comp = report.get("comparison")
    if comp and pipe and loop:
        print(
            f"\n  speed-up (loop / pipeline), goal >= 1.5x: wall {comp['speedup_wall']}x "
            f"(per repeat {comp['speedup_wall_per_repeat']}), cpu {comp['speedup_cpu']}x "
            f"(per repeat {comp['speedup_cpu_per_repeat']}); "
            f"modelling stages only: wall {comp['speedup_modelling_wall']}x, cpu "
            f"{comp['speedup_modelling_cpu']}x"
        )
        print(
            f"  ranking LightGBM mean OOF rank IC, pipeline vs loop: max |diff| "
            f"{comp['max_abs_ic_diff_lightgbm']}, Spearman of the target order "
            f"{comp['spearman_target_order_lightgbm']} (ridge: "
            f"{comp['max_abs_ic_diff_ridge']}, {comp['spearman_target_order_ridge']}); "
            f"identical folds: {comp['same_folds_all_targets']}"
        )
        print(
            f"  selected targets: pipeline {pipe['selected_targets']}, loop "
            f"{loop['selected_targets']}"
        )
        print(
            f"  peak RSS, goal <= 2x X: pipeline {pipe['peak_rss_bytes'] / mb:.0f} MiB = "
            f"{comp['pipeline_peak_rss_over_x']}x X "
            f"({comp['pipeline_peak_rss_above_baseline_over_x']}x "
            f"above the {pipe['baseline_rss_bytes'] / mb:.0f} MiB after imports); loop "
            f"{loop['peak_rss_bytes'] / mb:.0f} MiB = {comp['loop_peak_rss_over_x']}x X "
            f"({comp['loop_peak_rss_above_baseline_over_x']}x above imports)"
        )
        print(f"  goals met: {comp['goals']}")
    for name, row in report.get("executors", {}).items():
        print(f"  executor {name}: {row}")
    for error in report["errors"]:
        print(f"  ERROR: {error}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--repeats", type=int, default=None, help="default: 3 small, 1 medium")
    parser.add_argument(
        "--threads", type=int, default=1, help="LightGBM/OpenMP/BLAS threads, both sides"
    )
    parser.add_argument("--sides", default="pipeline,loop", help="which sides to run")
    parser.add_argument(
        "--executors",
        default="serial",
        help="pipeline executors to run in each repeat, comma-separated (serial,process,ray); "
        "the first is compared with the loop, the others with it",
    )
    parser.add_argument("--workers", default="auto", help="runtime.n_workers of process/ray")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--side", choices=("pipeline", "loop"), help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.side is not None:  # a child process
        child_job: dict[str, Any] = json.loads(args.job.read_text())
        side: Callable[[Mapping[str, Any]], dict[str, Any]]
        side = pipeline_side if args.side == "pipeline" else loop_side
        Path(child_job["out"]).write_text(json.dumps(side(child_job), indent=2))
        return

    scale = SCALES[args.scale]
    repeats = args.repeats or scale.repeats
    sides = set(args.sides.split(","))
    executors = [e for e in args.executors.split(",") if e]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="panelml-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        config = write_data(workdir, scale, args.threads)
        print(f"data written to {workdir} in {time.perf_counter() - t0:.1f}s")
        results = []
        for repeat in range(repeats):
            job: dict[str, Any] = {
                "config": str(config),
                "workdir": str(workdir),
                "repeat": repeat,
                "threads": args.threads,
            }
            pipe: dict[str, Any] = {"error": "pipeline side off"}
            others: dict[str, dict[str, Any]] = {}
            for executor in executors if "pipeline" in sides else []:
                done = run_child(
                    "pipeline", {**job, "executor": executor, "workers": args.workers}, workdir
                )
                if executor == executors[0]:
                    pipe = done
                else:
                    others[executor] = done
            n_targets = len(pipe.get("selected_targets") or []) or 5
            n_features = {t: len(f) for t, f in (pipe.get("selected_features") or {}).items()}
            job.update(
                n_targets=n_targets,
                n_features=n_features,
                ranking_params=pipe.get("ranking_params"),
                importances=pipe.get("importances"),
                training_families=pipe.get("training_families"),
                demean=pipe.get("demean"),
            )
            loop: dict[str, Any] = {"error": "loop side off"}
            if "loop" in sides:
                loop = run_child("loop", job, workdir)
            walls = ", ".join(f"{e} {r.get('wall_s')} s" for e, r in others.items())
            print(
                f"repeat {repeat + 1}/{repeats}: pipeline {pipe.get('wall_s')} s, "
                f"loop {loop.get('wall_s')} s" + (f", {walls}" if walls else "")
            )
            results.append({"pipeline": pipe, "loop": loop, "executors": others})
        report = summarise(args.scale, scale, args, results)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    out = args.out or RESULTS_DIR / f"pipeline_{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

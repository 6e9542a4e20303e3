"""``panelml demo``: the whole pipeline on a synthetic panel whose truth is known.

The demo writes a panel made by :func:`panelml.data.synthetic.make_panel` (with
planted predictable targets, pure-noise targets, signal and noise features and
planted leaks) and an experiment YAML into one folder, runs the default
pipeline on it, and then, because the truth is known, says how well the run
recovered it: did the ranking order the targets by their planted strength,
did noise targets stay unselected, were the planted leaks caught, and did
feature selection find each selected target's signal features.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from panelml.data.synthetic import GroundTruth, write_demo_data

DEMO_EXPERIMENT = "demo"

DEMO_CONFIG: dict[str, Any] = {
    "experiment": {
        "name": DEMO_EXPERIMENT,
        "description": "panelml demo: a synthetic panel with planted signal, noise and leaks",
    },
    "data": {
        "path": "data/panel.parquet",
        "symbol_column": "symbol",
        "timestamp_column": "timestamp",
        "targets": ["fwd_*", "y_*"],
        "bar_interval": "1d",
    },
    "validation": {"scheme": "purged_kfold", "n_splits": 5, "embargo_pct": 0.01},
    "pipeline": {
        "stages": [
            "leakage_screen",
            "target_ranking",
            "feature_selection",
            "training",
            "stability",
            "report",
        ]
    },
    "runtime": {
        "seed": 42,
        "output_dir": "runs",
        "cache_dir": ".panelml/cache",
        "deterministic": True,
    },
    "target_ranking": {"top_n": 5, "fdr": 0.10},
    "feature_selection": {"top_n": 10},
}


def write_demo(directory: Path, *, seed: int = 0) -> Path:
    """Write the demo panel, its truth and ``demo.yaml`` into ``directory``.

    Returns the config path. Existing demo data in ``directory`` is kept (so a
    second ``panelml demo`` reuses the cache); nothing else there is touched.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "data" / "panel.parquet").exists():
        write_demo_data(directory / "data", seed=seed)
    config_path = directory / "demo.yaml"
    text = yaml.safe_dump(DEMO_CONFIG, sort_keys=False)
    if not config_path.exists() or config_path.read_text(encoding="utf-8") != text:
        config_path.write_text(text, encoding="utf-8")
    return config_path


def load_truth(directory: Path) -> GroundTruth:
    """The ground truth written beside the demo panel."""
    data = json.loads((directory / "data" / "truth.json").read_text(encoding="utf-8"))
    return GroundTruth.from_dict(data)


@dataclass
class TargetRecovery:
    """How one target's planted truth compares with what the run found."""

    target: str
    strength: float
    status: str
    score: float
    signal_features: tuple[str, ...]
    selected_features: tuple[str, ...] = ()

    @property
    def recall(self) -> float:
        if not self.signal_features or not self.selected_features:
            return math.nan
        hits = set(self.signal_features) & set(self.selected_features)
        return len(hits) / len(self.signal_features)

    @property
    def found(self) -> tuple[str, ...]:
        return tuple(f for f in self.selected_features if f in self.signal_features)


@dataclass
class Recovery:
    """The run's results held against the planted truth."""

    targets: list[TargetRecovery]
    rank_correlation: float
    noise_selected: list[str]
    # feature, target, kind, "removed: <checks>" / "warned only: <checks>" / ""
    leaks: list[tuple[str, str, str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def leaks_caught(self) -> int:
        """Leaks the screen removed for their target (a suspicion that only
        warns leaves the leak in use, so it does not count)."""
        return sum(1 for leak in self.leaks if leak[3].startswith("removed: "))


def _read(run_dir: Path, relative: str) -> pl.DataFrame | None:
    path = run_dir / relative
    return pl.read_parquet(path) if path.exists() else None


def assess(run_dir: Path, truth: GroundTruth) -> Recovery:
    """Compare the run folder's outputs with the planted truth."""
    ranking = _read(run_dir, "target_ranking/ranking.parquet")
    leakage = _read(run_dir, "leakage_screen/report.parquet")
    rows = {r["target"]: r for r in ranking.to_dicts()} if ranking is not None else {}
    targets: list[TargetRecovery] = []
    for name, planted in truth.targets.items():
        row = rows.get(name, {})
        selection = _read(run_dir, f"feature_selection/{name}.parquet")
        chosen: tuple[str, ...] = ()
        if selection is not None:
            chosen = tuple(selection.filter(pl.col("selected")).sort("rank")["feature"].to_list())
        targets.append(
            TargetRecovery(
                target=name,
                strength=float(planted.expected_rank_ic),
                status=str(row.get("status", "missing")),
                score=_float(row.get("score")),
                signal_features=tuple(planted.signal_features),
                selected_features=chosen,
            )
        )
    scored = [t for t in targets if math.isfinite(t.score)]
    correlation = math.nan
    if len(scored) >= 3:
        from scipy.stats import spearmanr  # heavy (~1 s): only when a demo is assessed

        correlation = float(
            spearmanr([t.strength for t in scored], [t.score for t in scored]).statistic
        )
    noise_selected = [t.target for t in targets if t.strength == 0.0 and t.status == "selected"]
    leaks: list[tuple[str, str, str, str]] = []
    for leak in truth.leaks:
        caught = ""
        if leakage is not None:
            hits = leakage.filter(
                (pl.col("feature") == leak.feature) & (pl.col("target") == leak.target)
            )
            removed = hits.filter(pl.col("action") == "removed")
            if removed.height:
                caught = "removed: " + ", ".join(sorted(set(removed["check"].to_list())))
            elif hits.height:
                caught = "warned only: " + ", ".join(sorted(set(hits["check"].to_list())))
        leaks.append((leak.feature, leak.target, leak.kind, caught))
    return Recovery(targets, correlation, noise_selected, leaks)


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan

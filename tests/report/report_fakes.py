"""Hand-built stage results that follow the documented column contracts
(docs/architecture.md, "Built-in stage results"), plus an HTML checker.

The real stages are written elsewhere; the report must work from any result with
the documented ``tables`` and ``meta``, so these fakes are plain TableResults.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import yaml

from panelml import contracts
from panelml.pipeline.results import TableResult


class RankingTables(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.TARGET_CHOICE, contracts.RANKING_SCORES)


class ScreenTables(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.EXCLUSIONS,)


class SelectionTables(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.FEATURE_CHOICE,)


class TrainingTables(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.OOF_PREDICTIONS, contracts.TRAINING_METRICS)


class StabilityTables(TableResult):
    provides: ClassVar[tuple[str, ...]] = (contracts.STABILITY_REPORT,)


TARGETS = ("ret_5d", "ret_1d", "ret_20d", "vol_5d", "leaky_fwd")
STATUSES = ("selected", "selected", "below_top_n", "not_significant", "suspect_leak")
SELECTED = ("ret_5d", "ret_1d")
FAMILIES = ("lightgbm", "linear")
N_FOLDS = 3


def ranking_result(
    targets: tuple[str, ...] = TARGETS, statuses: tuple[str, ...] = STATUSES
) -> TableResult:
    """A ranking table: target, rank, score with CI, status and a few stats."""
    n = len(targets)
    scores = [0.06 - 0.012 * i for i in range(n)]
    frame = pl.DataFrame(
        {
            "target": list(targets),
            "rank": list(range(1, n + 1)),
            "score": scores,
            "score_ci_low": [s - 0.02 for s in scores],
            "score_ci_high": [s + 0.02 for s in scores],
            "status": list(statuses),
            "reason": ["" for _ in targets],
            "ic_mean": scores,
            "icir": [s * 10 for s in scores],
            "t_stat": [s * 50 for s in scores],
            "q_value": [0.001 * (i + 1) for i in range(n)],
            "lightgbm_ic": scores,
            "linear_ic": scores,
        }
    )
    return RankingTables({"ranking": frame}, {"n_targets": n})


def leakage_result(empty: bool = False) -> TableResult:
    """Three findings over two targets (one removed, two warned), or none."""
    rows: dict[str, list[Any]] = {
        "feature": ["fwd_return_5", "close_copy", "ema_future"],
        "target": ["ret_5d", "ret_5d", "ret_1d"],
        "check": ["name_rule", "near_copy", "future_info"],
        "value": [1.0, 0.999, 0.42],
        "threshold": [1.0, 0.98, 0.3],
        "action": ["removed", "warned", "warned"],
    }
    frame = pl.DataFrame(rows)
    return ScreenTables({"report": frame.head(0) if empty else frame}, {})


def selection_result(
    targets: tuple[str, ...] = SELECTED, n_features: int = 30, seed: int = 0
) -> TableResult:
    """One table per target with consensus, per-family importances, frequency."""
    rng = np.random.default_rng(seed)
    tables = {}
    stability = {}
    for target in targets:
        consensus = np.sort(rng.random(n_features))[::-1]
        tables[target] = pl.DataFrame(
            {
                "feature": [f"f{i:02d}" for i in range(n_features)],
                "consensus_score": consensus,
                "rank": np.arange(1, n_features + 1),
                "imp_lightgbm_gain": consensus * rng.uniform(0.5, 1.5, n_features),
                "imp_linear_coef": consensus * rng.uniform(0.5, 1.5, n_features),
                "selection_frequency": np.clip(consensus + 0.1, 0, 1),
                "eligible": [True] * n_features,
                "selected": [i < 10 for i in range(n_features)],
                "reason": ["" for _ in range(n_features)],
            }
        )
        stability[target] = {"phi": 0.81, "variance": 0.001, "ci_low": 0.74, "ci_high": 0.88}
    return SelectionTables(tables, {"stability": stability})


def training_result(
    targets: tuple[str, ...] = SELECTED, n_ts: int = 120, n_sym: int = 12, seed: int = 1
) -> TableResult:
    """Metrics per (target, family, fold) and OOF predictions with a weak signal."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    tables: dict[str, pl.DataFrame] = {}
    for target in targets:
        for family in (*FAMILIES, "ensemble"):
            for fold in (*range(N_FOLDS), -1):
                rows.append(
                    {
                        "target": target,
                        "family": family,
                        "fold": fold,
                        "ic_mean": float(rng.normal(0.03, 0.01)),
                        "icir": float(rng.normal(0.3, 0.1)),
                        "t_stat": float(rng.normal(3, 1)),
                        "t_stat_nw": float(rng.normal(2.5, 1)),
                        "r2": float(rng.normal(0.001, 0.001)),
                        "auc": None,
                        "log_loss": None,
                        "hit_rate": float(rng.uniform(0.5, 0.55)),
                        "best_iteration": 100 if family == "lightgbm" else None,
                        "n_train": 1000,
                        "n_test": 300,
                    }
                )
        ts = np.repeat(np.arange(n_ts, dtype=np.int64) * 86_400_000_000_000, n_sym)
        y = rng.normal(size=n_ts * n_sym)
        oof: dict[str, Any] = {
            "symbol": np.tile([f"S{i}" for i in range(n_sym)], n_ts),
            "timestamp": ts,
            "target": y,
        }
        for family in FAMILIES:
            oof[family] = 0.2 * y + rng.normal(size=y.size)
        oof["ensemble"] = (oof["lightgbm"] + oof["linear"]) / 2
        tables[f"oof_{target}"] = pl.DataFrame(oof)
    tables["metrics"] = pl.DataFrame(rows)
    return TrainingTables(tables, {})


def stability_result(empty: bool = False) -> TableResult:
    """This run compared with two earlier runs."""
    frame = pl.DataFrame(
        {
            "target": ["ret_5d", "ret_5d"],
            "previous_run": ["20240101-000000-aaaaaa", "20240102-000000-bbbbbb"],
            "jaccard_top10": [0.8, 0.7],
            "kendall_tau": [0.65, 0.6],
        }
    )
    return StabilityTables({"report": frame.head(0) if empty else frame}, {})


def all_results() -> dict[str, TableResult]:
    """A full set of results, as after a complete run."""
    return {
        "leakage_screen": leakage_result(),
        "target_ranking": ranking_result(),
        "feature_selection": selection_result(),
        "training": training_result(),
        "stability": stability_result(),
    }


def fake_config() -> dict[str, Any]:
    """A resolved config as plain data (what ``ExperimentConfig.model_dump`` gives)."""
    stages = ["leakage_screen", "target_ranking", "feature_selection", "training", "stability"]
    return {
        "experiment": {"name": "demo"},
        "data": {"path": "panel.parquet"},
        "pipeline": {
            "stages": [{"name": n, "enabled": True, "params": {}} for n in stages]
            + [{"name": "report", "enabled": True, "params": {"top_features": 8}}]
        },
        "runtime": {"seed": 42},
    }


def write_run_folder(run_dir: Path, results: dict[str, TableResult] | None = None) -> Path:
    """A finished run folder as the runner leaves it: stage folders, config, manifest."""
    run_dir.mkdir(parents=True)
    for name, result in (all_results() if results is None else results).items():
        (run_dir / name).mkdir()
        result.save(run_dir / name)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(fake_config(), sort_keys=False))
    manifest = {
        "run_id": run_dir.name,
        "experiment": "demo",
        "status": "ok",
        "started": "2024-03-01T10:00:00+00:00",
        "finished": "2024-03-01T10:01:00+00:00",
        "seconds": 60.0,
        "stages": [
            {"name": "leakage_screen", "status": "cached", "seconds": 0.5},
            {"name": "target_ranking", "status": "ran", "seconds": 30.25},
            {"name": "feature_selection", "status": "ran", "seconds": 20.0},
            {"name": "training", "status": "ran", "seconds": 8.0},
            {"name": "stability", "status": "ran", "seconds": 1.0},
            {"name": "report", "status": "ran", "seconds": 0.25},
        ],
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class BalanceChecker(HTMLParser):
    """Checks that every non-void element is closed, in order, and collects ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id" and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void element <{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def check_html(text: str) -> BalanceChecker:
    """Parse ``text`` and assert it is a well-formed HTML5 document."""
    parser = BalanceChecker()
    parser.feed(text)
    parser.close()
    assert parser.doctype is not None and parser.doctype.lower() == "doctype html"
    assert parser.errors == []
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    assert parser.tags[:2] == ["html", "head"]
    assert parser.tags.count("html") == parser.tags.count("body") == 1
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    return parser


def assert_no_external_refs(text: str) -> None:
    """No URL of any kind that would make the browser fetch something."""
    lowered = text.lower()
    for needle in ("http://", "https://", "//cdn", "src=", "@import", "url("):
        assert needle not in lowered, needle


def section_html(text: str, section_id: str) -> str:
    """The markup of one ``<section id=...>`` (sections do not nest)."""
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', text, re.S)
    assert match is not None, section_id
    return match.group(1)

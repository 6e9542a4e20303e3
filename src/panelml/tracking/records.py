"""What a tracking hook records about a finished run, as plain data.

Everything here is independent of any tracking library, so it is tested on its
own and a second tracker (Weights & Biases, a database) could reuse it:

* :func:`flatten_params`: the resolved config as ``{"a.b.c": "value"}`` strings;
  the pipeline's stage list is keyed by stage name
  (``pipeline.stages.training.params.families``), other lists are JSON;
* :func:`run_metrics`: stage timings (``seconds/<stage>``), per-target ranking
  scores (``ranking/<target>/score`` and ``/rank``) and the training stage's
  out-of-fold summary metrics (``oof/<target>/<family>/<metric>``), read through
  the contract readers, so any stage providing the contract is recorded;
* :func:`run_tags`: run id, config hash, data fingerprint, experiment, status;
* :func:`run_artifacts`: ``report.html``, the ranking table and each saved
  model folder, with the path each gets in the tracker.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panelml import contracts
from panelml.models.bundle import MODELS_DIR, bundle_folders

__all__ = [
    "MAX_PARAM_LENGTH",
    "flatten_params",
    "run_artifacts",
    "run_metrics",
    "run_tags",
    "safe_key",
]

MAX_PARAM_LENGTH = 6000
"""Longest param value MLflow stores; longer values are cut with a marker."""

_UNSAFE = re.compile(r"[^\w\-. /]")


def safe_key(key: str) -> str:
    """``key`` with every character a tracker may reject replaced by ``_``."""
    return _UNSAFE.sub("_", key)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > MAX_PARAM_LENGTH:
        text = text[: MAX_PARAM_LENGTH - 15] + "...(truncated)"
    return text


def flatten_params(config: Mapping[str, Any]) -> dict[str, str]:
    """The resolved config flattened to dotted keys and string values (see the module
    docstring); an empty mapping becomes ``"{}"`` so the key still shows."""
    out: dict[str, str] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                walk(item, f"{prefix}.{key}" if prefix else str(key))
        elif prefix == "pipeline.stages" and isinstance(value, list):
            for index, entry in enumerate(value):
                name = entry.get("name") if isinstance(entry, Mapping) else None
                if isinstance(name, str):  # the name is the key; the rest are its fields
                    walk({k: v for k, v in entry.items() if k != "name"}, f"{prefix}.{name}")
                else:
                    walk(entry, f"{prefix}.{index}")
        else:
            out[safe_key(prefix)] = _text(value)

    walk(config, "")
    return out


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _providers(results: Mapping[str, Any], kind: str) -> list[Any]:
    return [r for r in results.values() if kind in getattr(r, "provides", ())]


def run_metrics(manifest: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, float]:
    """Timings, ranking scores and OOF summary metrics of a run (module docstring).
    Missing and non-finite values are left out (a tracker cannot plot them)."""
    out: dict[str, float] = {}
    total = _finite(manifest.get("seconds"))
    if total is not None:
        out["seconds/total"] = total
    for row in manifest.get("stages") or ():
        seconds = _finite(row.get("seconds"))
        if seconds is not None:
            out[safe_key(f"seconds/{row.get('name')}")] = seconds
    for result in _providers(results, contracts.RANKING_SCORES):
        for row in contracts.ranking_scores(result).iter_rows(named=True):
            for column in ("score", "rank"):
                value = _finite(row[column])
                if value is not None:
                    out[safe_key(f"ranking/{row['target']}/{column}")] = value
    for result in _providers(results, contracts.TRAINING_METRICS):
        summary = contracts.summary_metrics(result)
        if summary is None:
            continue
        keys = {"target", "family", "fold"}
        for row in summary.iter_rows(named=True):
            for column, raw in row.items():
                value = None if column in keys else _finite(raw)
                if value is not None:
                    out[safe_key(f"oof/{row['target']}/{row['family']}/{column}")] = value
    return out


def run_tags(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Tags naming the panelml run: run id, config hash, data fingerprint, status."""
    fields = {
        "panelml.run_id": manifest.get("run_id"),
        "panelml.experiment": manifest.get("experiment"),
        "panelml.config_hash": manifest.get("config_hash"),
        "panelml.data_fingerprint": manifest.get("data_fingerprint"),
        "panelml.status": manifest.get("status"),
    }
    versions = manifest.get("versions")
    if isinstance(versions, Mapping) and versions.get("panelml"):
        fields["panelml.version"] = versions["panelml"]
    return {key: str(value) for key, value in fields.items() if value is not None}


def run_artifacts(run_dir: Path) -> list[tuple[Path, str]]:
    """(file or folder, artifact folder) pairs to upload: ``report.html`` and the
    config at the top, the ranking table under ``target_ranking/``, each saved model
    folder under ``models/<target>/<family>``. Absent files are skipped."""
    out: list[tuple[Path, str]] = []
    for name in ("report.html", "config.yaml", "manifest.json"):
        if (run_dir / name).is_file():
            out.append((run_dir / name, ""))
    ranking = run_dir / "target_ranking" / "ranking.parquet"
    if ranking.is_file():
        out.append((ranking, "target_ranking"))
    for folder in bundle_folders(run_dir):
        relative = folder.relative_to(run_dir)
        out.append((folder, str(relative.as_posix()) if relative.parts else MODELS_DIR))
    return out

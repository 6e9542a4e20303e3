"""Rebuild a report from a finished run folder.

A run folder holds every stage's saved result (``<run_dir>/<stage>/``, written
by ``TableResult.save``), ``config.yaml`` and ``manifest.json``: that is all the
report needs, so ``panelml report RUN_DIR`` can re-render a report (for example
after upgrading panelml) without loading the data or rerunning anything.
Report files are published with the project's one atomic writer,
:func:`panelml.pipeline.run_folder.write_text_atomic`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from panelml.pipeline.results import TableResult
from panelml.report.inputs import REPORTED_STAGES, ReportInputs

REPORT_FILE = "report.html"
FACTS_FILE = "report.json"
"""Saved beside the report in its stage folder: the data facts known only while
the data was loaded (shape, timestamp type), reused when re-rendering."""


class RunFolderError(ValueError):
    """The folder does not exist or is not a panelml run folder."""


@dataclass
class RunFolder:
    """What was read from a run folder: the report inputs and any parts that could
    not be read (one sentence each)."""

    inputs: ReportInputs
    warnings: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stage_params(config: Mapping[str, Any] | None, stage: str) -> dict[str, Any]:
    """The params of ``stage`` in a resolved config (pipeline entry, else top-level key)."""
    if not config:
        return {}
    pipeline = config.get("pipeline")
    entries = pipeline.get("stages", []) if isinstance(pipeline, Mapping) else []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("name") == stage:
            params = entry.get("params")
            if isinstance(params, Mapping):
                return dict(params)
    section = config.get(stage)
    return dict(section) if isinstance(section, Mapping) else {}


def pipeline_names(config: Mapping[str, Any] | None) -> list[str]:
    """The stage names listed in a config's ``pipeline.stages``."""
    if not config:
        return []
    pipeline = config.get("pipeline")
    entries = pipeline.get("stages", []) if isinstance(pipeline, Mapping) else []
    names = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else entry
        if isinstance(name, str):
            names.append(name)
    return names


def load_run_folder(run_dir: Path) -> RunFolder:
    """Read the report inputs of the run in ``run_dir``.

    Raises :class:`RunFolderError` when ``run_dir`` is missing or has no
    ``manifest.json``. A stage folder that cannot be loaded is left out with a warning.
    """
    if not run_dir.is_dir():
        raise RunFolderError(
            f"run folder {run_dir} does not exist; pass the folder of a run "
            "(runs/<experiment>/<run_id>)"
        )
    manifest = _read_json(run_dir / "manifest.json")
    if not isinstance(manifest, dict):
        raise RunFolderError(
            f"{run_dir} is not a panelml run folder (no readable manifest.json); "
            "pass the folder of a run (runs/<experiment>/<run_id>)"
        )
    warnings: list[str] = []
    config: dict[str, Any] | None = None
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
            config = loaded if isinstance(loaded, dict) else None
        except (OSError, yaml.YAMLError) as exc:
            warnings.append(f"config.yaml could not be read ({exc}); the report omits it.")
    results: dict[str, TableResult] = {}
    for name in REPORTED_STAGES:
        folder = run_dir / name
        if not (folder / "result.json").is_file():
            continue
        try:
            results[name] = TableResult.load(folder)
        except Exception as exc:  # a damaged folder must not stop the rest of the report
            warnings.append(f"the saved result of {name} could not be read ({exc}); left out.")
    facts = _read_json(run_dir / "report" / FACTS_FILE)
    facts = facts if isinstance(facts, dict) else {}
    params = stage_params(config, "report")
    experiment = manifest.get("experiment")
    names = pipeline_names(config) or [
        str(s.get("name")) for s in manifest.get("stages", []) if isinstance(s, dict)
    ]
    inputs = ReportInputs(
        title=str(params.get("title") or f"panelml report: {experiment or run_dir.name}"),
        experiment=str(experiment) if experiment else None,
        config=config,
        data_shape=facts.get("data_shape") if isinstance(facts.get("data_shape"), dict) else None,
        results=results,
        pipeline=names,
        top_features=int(params.get("top_features", 15)),
        max_targets=int(params.get("max_targets", 20)),
        ic_window=int(params.get("ic_window", 20)),
        timestamp_dtype=facts.get("timestamp_dtype")
        if isinstance(facts.get("timestamp_dtype"), str)
        else None,
        data_warnings=_data_warnings(facts, manifest),
        horizons=_int_map(facts.get("horizons")),
        target_kinds={str(k): str(v) for k, v in _map(facts.get("target_kinds")).items()},
        timestamps=[int(t) for t in facts.get("timestamps", []) if isinstance(t, int)],
    )
    return RunFolder(inputs=inputs, warnings=warnings)


def _data_warnings(facts: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[str]:
    """The data warnings saved with the report, else those in the manifest."""
    for found in (facts.get("data_warnings"), manifest.get("data_warnings")):
        if isinstance(found, list):
            return [str(w) for w in found]
    return []


def _map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _int_map(value: Any) -> dict[str, int]:
    """A saved target -> horizon map, keeping only integer values."""
    return {k: v for k, v in _map(value).items() if isinstance(v, int) and not isinstance(v, bool)}

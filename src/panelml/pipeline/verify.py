"""``panelml runs verify``: is a run folder complete and unaltered?

Checked, in order:

- the run's state (:func:`~panelml.pipeline.runstate.run_state`) is ``finished``;
- every stage folder holds exactly the files the manifest records for it
  (``stages[].files``: relative path -> sha256, written when the run saved or
  copied the stage's result);
- every saved model folder (``models/**/meta.json``) holds the files its
  ``meta.json`` lists under ``sha256`` (file name -> sha256) with those digests.

Only JSON is read: nothing from the run folder is imported or unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from panelml.pipeline.runstate import RunState, read_manifest, run_state
from panelml.pipeline.storage import file_sha256

MODELS_DIR = "models"
MODEL_META = "meta.json"


@dataclass
class Verification:
    """The outcome of :func:`verify_run`."""

    run_dir: Path
    state: RunState
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "finished" and not self.problems


def _check_files(folder: Path, expected: dict[str, str], label: str) -> tuple[int, list[str]]:
    problems: list[str] = []
    checked = 0
    for name in sorted(expected):
        path = folder / name
        checked += 1
        if not path.is_file():
            problems.append(f"{label}/{name}: missing")
            continue
        try:
            digest = file_sha256(path)
        except OSError as exc:
            problems.append(f"{label}/{name}: unreadable ({exc.strerror or exc})")
            continue
        if digest != expected[name]:
            problems.append(f"{label}/{name}: content changed (sha256 differs)")
    return checked, problems


def _stage_files(run_dir: Path, manifest: dict[str, object]) -> tuple[int, list[str]]:
    checked, problems = 0, []
    stages = manifest.get("stages")
    for record in stages if isinstance(stages, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            continue
        name = str(record.get("name"))
        expected = {str(k): str(v) for k, v in record["files"].items()}
        folder = run_dir / name
        n, found = _check_files(folder, expected, name)
        checked += n
        problems += found
        if folder.is_dir():
            extra = sorted(
                p.relative_to(folder).as_posix()
                for p in folder.rglob("*")
                if p.is_file() and p.relative_to(folder).as_posix() not in expected
            )
            problems += [f"{name}/{e}: not written by the run" for e in extra]
    return checked, problems


def _model_files(run_dir: Path) -> tuple[int, list[str]]:
    checked, problems = 0, []
    root = run_dir / MODELS_DIR
    for meta_path in sorted(root.rglob(MODEL_META)) if root.is_dir() else []:
        label = meta_path.parent.relative_to(run_dir).as_posix()
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            problems.append(f"{label}/{MODEL_META}: unreadable")
            continue
        digests = meta.get("sha256") if isinstance(meta, dict) else None
        if not isinstance(digests, dict):
            continue  # a model saved before checksums existed: nothing to compare
        expected = {str(k): str(v) for k, v in digests.items()}
        n, found = _check_files(meta_path.parent, expected, label)
        checked += n
        problems += found
    return checked, problems


def verify_run(run_dir: Path) -> Verification:
    """Check ``run_dir`` (see the module docstring); never raises for a bad folder."""
    folder = Path(run_dir)
    state = run_state(folder)
    result = Verification(folder, state)
    manifest = read_manifest(folder)
    if manifest is None:
        result.problems.append("manifest.json is missing or unreadable")
        return result
    if state != "finished":
        result.problems.append(f"the run is {state}, not finished")
    for check in (_stage_files(folder, manifest), _model_files(folder)):
        result.files_checked += check[0]
        result.problems += check[1]
    return result

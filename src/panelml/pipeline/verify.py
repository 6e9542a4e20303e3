"""``panelml runs verify``: is a run folder complete and unaltered?

Checked, in order:

- the run's state (:func:`~panelml.pipeline.runstate.run_state`) is ``finished``;
- every stage folder holds exactly the files the manifest records for it
  (``stages[].files``: relative path -> sha256, written when the run saved or
  copied the stage's result);
- every saved model folder (``models/**/meta.json``) holds the files its
  ``meta.json`` lists under ``files`` (file name -> sha256) with those digests,
  and a sealed ``meta.json`` (``meta_sha256``) is unchanged.

Only JSON is read: nothing from the run folder is imported or unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panelml.pipeline.run_folder import MODEL_META, MODELS_DIR
from panelml.pipeline.runstate import RunState, read_manifest, run_state
from panelml.pipeline.storage import file_sha256

MODEL_DIGEST_KEYS = ("files", "sha256")
"""Keys of ``meta.json`` that may hold the model files' digests (file name -> sha256)."""
META_DIGEST = "meta_sha256"


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


def _meta_problem(meta: dict[str, Any], text: str) -> str | None:
    """Why a sealed ``meta.json`` (one with ``meta_sha256``) was altered, or ``None``.

    The seal is the sha256 of the record's canonical text (sorted keys, indent 2,
    final newline) without the seal, and the file must be that text with it.
    """
    recorded = meta.get(META_DIGEST)
    if recorded is None:
        return None
    plain = {k: v for k, v in meta.items() if k != META_DIGEST}
    expected = hashlib.sha256(_canonical(plain).encode("utf-8")).hexdigest()
    if recorded != expected or text != _canonical(meta):
        return "changed after it was written (its meta_sha256 differs)"
    return None


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def _model_files(run_dir: Path) -> tuple[int, list[str]]:
    checked, problems = 0, []
    root = run_dir / MODELS_DIR
    for meta_path in sorted(root.rglob(MODEL_META)) if root.is_dir() else []:
        folder = meta_path.parent
        label = folder.relative_to(run_dir).as_posix()
        try:
            text = meta_path.read_text(encoding="utf-8")
            meta = json.loads(text)
        except (OSError, ValueError):
            problems.append(f"{label}/{MODEL_META}: unreadable")
            continue
        if not isinstance(meta, dict):
            problems.append(f"{label}/{MODEL_META}: not a JSON object")
            continue
        checked += 1
        problem = _meta_problem(meta, text)
        if problem is not None:
            problems.append(f"{label}/{MODEL_META}: {problem}")
        digests = next((meta[k] for k in MODEL_DIGEST_KEYS if isinstance(meta.get(k), dict)), None)
        if digests is None:
            continue  # a model saved before checksums existed: nothing to compare
        expected = {str(k): str(v) for k, v in digests.items()}
        outside = [
            n for n in expected if not (folder / n).resolve().is_relative_to(folder.resolve())
        ]
        problems += [f"{label}: recorded file {n!r} lies outside the folder" for n in outside]
        n, found = _check_files(
            folder, {k: v for k, v in expected.items() if k not in outside}, label
        )
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

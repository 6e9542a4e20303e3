"""A run folder's record: creating the folder, writing ``manifest.json``, stale runs.

The manifest is written when a run starts (``status: running``, with the
writing process's identity, see :mod:`panelml.pipeline.runstate`) and when it
ends (``finished``, ``failed`` or ``interrupted``). Writes go through a
temporary file and a rename; if the disk is full the final manifest is
written over the old one in place (compact JSON needs no more room than the
indented start manifest), so a full disk never leaves a run at ``running``
next to an empty temporary file.
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from panelml.pipeline.codeid import installed_versions
from panelml.pipeline.errors import UserError
from panelml.pipeline.run_folder import MANIFEST, overwrite_in_place, write_text_atomic
from panelml.pipeline.runstate import effective_state, read_manifest
from panelml.pipeline.storage import storage_error, storage_errors

OUTPUT_SETTING = "runtime.output_dir"

_LIBRARIES = (
    "numpy",
    "polars",
    "pyarrow",
    "pydantic",
    "scipy",
    "lightgbm",
    "scikit-learn",
    "xgboost",
    "catboost",
    "torch",
)


def panelml_version() -> str:
    """The installed panelml version (the package's ``__version__`` when not installed)."""
    try:
        return version("panelml")
    except PackageNotFoundError:
        # Not installed (a source checkout): the package's own __version__. The
        # parent package is always imported already; importing it here would make
        # the engine depend on everything panelml/__init__ re-exports.
        return str(getattr(sys.modules.get("panelml"), "__version__", "unknown"))


def library_versions() -> dict[str, str]:
    """Versions of python, panelml and the installed numeric/ML libraries.

    Read from package metadata, so nothing heavy is imported (once per process:
    :func:`~panelml.pipeline.codeid.installed_versions`).
    """
    out = {"python": platform.python_version(), "panelml": panelml_version()}
    out.update(installed_versions(_LIBRARIES))
    return out


def new_run_id() -> str:
    """A sortable, unique run id: UTC ``YYYYmmdd-HHMMSS`` plus 6 random hex digits."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def create_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` (its parents as needed); it must not exist yet.

    ``mkdir`` without ``exist_ok`` is atomic: of two runs given the same run id,
    exactly one gets the folder, the other a :class:`UserError`.
    """
    with storage_errors(run_dir.parent, OUTPUT_SETTING):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise UserError(f"run folder {run_dir} already exists; choose another --run-id") from None
    except OSError as exc:
        raise storage_error(exc, run_dir, OUTPUT_SETTING) from exc


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically; a :class:`StorageError` when it cannot be.

    On a full disk (or any write error) an existing manifest is overwritten in
    place with compact JSON, which fits in the room the previous one took.
    """
    path = run_dir / MANIFEST
    try:
        write_text_atomic(path, json.dumps(manifest, indent=2))
    except OSError as exc:
        if path.is_file():
            try:
                overwrite_in_place(path, json.dumps(manifest, separators=(",", ":")))
                return
            except OSError:
                pass
        raise storage_error(exc, run_dir, OUTPUT_SETTING) from exc


def iso(timestamp: float) -> str:
    """UTC ISO-8601 time, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def mark_stale_runs(experiment_dir: Path, *, now: float, by_run: str) -> list[str]:
    """Rewrite the manifests of ``running`` runs whose process is gone as ``interrupted``.

    Called when a run of the experiment starts, so the folder tells the truth
    to every later reader. Returns the run ids marked; a manifest that cannot be
    rewritten is left alone (its state is still read as interrupted).
    """
    marked: list[str] = []
    try:
        folders = sorted(p for p in experiment_dir.iterdir() if p.is_dir())
    except OSError:
        return marked
    for folder in folders:
        manifest = read_manifest(folder)
        if manifest is None or manifest.get("status") != "running":
            continue
        if effective_state(manifest) != "interrupted":
            continue
        manifest.update(
            status="interrupted",
            error=(
                f"the run's process was gone when run {by_run} started at {iso(now)} "
                "(killed, or the machine stopped)"
            ),
        )
        try:
            write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=2))
        except OSError:
            continue
        marked.append(str(manifest.get("run_id") or folder.name))
    return marked


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is a safe folder name (the experiment-name pattern), else a
    :class:`UserError`: a run id with ``/``, ``..`` or an absolute path would write
    outside ``<output_dir>/<experiment>/``."""
    if not _RUN_ID.match(run_id) or len(run_id) > 200:
        raise UserError(
            f"--run-id {run_id!r} is not a valid run id; use letters, digits, '_', '.' and "
            "'-', starting with a letter or digit (for example 2025-01-31-baseline)"
        )
    return run_id

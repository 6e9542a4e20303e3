"""The run folder: its layout, how to open one, and how every layer writes files safely.

Layout of ``<output_dir>/<experiment>/<run_id>/``::

    manifest.json       MANIFEST     the run's record (status, stages, checksums)
    config.yaml         CONFIG_FILE  the fully resolved config
    events.jsonl        EVENTS_FILE  every event of the run, one JSON object a line
    <stage>/            a stage's saved result (``StageResult.save``)
    models/             MODELS_DIR   saved models (format: ``panelml.models.bundle``),
      <target>/<family>/meta.json    MODEL_META  one record per saved model folder
    report.html         published by the report stage

This module is the one owner of those names and of the atomic writes
(:func:`write_text_atomic` for text, :func:`atomic_path` for writers that take a
path, such as parquet): a reader never sees a half-written file, and a failed
write leaves the old file or nothing, never a stray temporary file. It imports
nothing of the ML side, so every layer may use it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from panelml.pipeline.errors import UserError

__all__ = [
    "CONFIG_FILE",
    "EVENTS_FILE",
    "MANIFEST",
    "MODELS_DIR",
    "MODEL_META",
    "RunFolder",
    "RunFolderError",
    "atomic_path",
    "open_run",
    "overwrite_in_place",
    "write_text_atomic",
]

MANIFEST = "manifest.json"
CONFIG_FILE = "config.yaml"
EVENTS_FILE = "events.jsonl"
MODELS_DIR = "models"
MODEL_META = "meta.json"


class RunFolderError(UserError):
    """A folder given as a run is not a readable panelml run folder."""


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

    def stage_dir(self, stage: str) -> Path:
        """The folder holding ``stage``'s saved result."""
        return self.path / stage


def open_run(path: str | Path) -> RunFolder:
    """Read a run folder's record; a folder without a readable manifest is a
    :class:`RunFolderError` naming the fix. A missing ``config.yaml`` reads as ``{}``."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RunFolderError(
            f"{folder} is not a panelml run folder (no {MANIFEST}); give a folder such "
            "as runs/<experiment>/<run_id>"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{manifest_path}: cannot read the manifest: {exc}") from None
    config: dict[str, Any] = {}
    config_path = folder / CONFIG_FILE
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RunFolderError(f"{config_path}: cannot read the config: {exc}") from None
        config = loaded if isinstance(loaded, dict) else {}
    return RunFolder(folder, manifest if isinstance(manifest, dict) else {}, config)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write to; renamed onto ``path`` when the
    block ends without an exception, removed otherwise. The parent folder must exist.

    ``with atomic_path(out) as tmp: frame.write_parquet(tmp)``. The temporary name
    holds the process id and a random part, so concurrent writers never share one.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def overwrite_in_place(path: Path, text: str) -> None:
    """Overwrite an existing file's bytes and truncate it, without a temporary file.

    The fallback when :func:`write_text_atomic` fails for lack of space: a text no
    longer than the file it replaces needs no new disk blocks.
    """
    data = text.encode("utf-8")
    with Path(path).open("r+b") as handle:
        handle.write(data)
        handle.truncate(len(data))

"""Content-addressed cache of stage results, with atomic writes.

An entry lives in ``<cache_dir>/<stage>/<key>/``: the saved result in
``result/`` and a small ``entry.json`` (stage, key, result fingerprint, result
type, creation time). What the key is made of is defined in exactly one place,
:func:`cache_key`.

Writes are atomic: the result is saved into a temporary folder next to the
entry and renamed into place only when complete, so a crash or a kill in the
middle of a save never leaves an entry that a later run would trust.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.stage import StageResult

RESULT_DIR = "result"
ENTRY_FILE = "entry.json"
_TMP_PREFIX = ".tmp-"


def cache_key(
    *,
    stage: str,
    stage_version: str,
    params: Mapping[str, Any],
    input_fingerprints: Mapping[str, str],
    data_fingerprint: str,
    panelml_version: str,
    settings: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one stage execution: everything its result may depend on.

    It is the hex sha256 of the canonical JSON (sorted keys, no whitespace) of:

    - ``stage``: the stage's name;
    - ``stage_version``: the stage class's ``version`` (bumped when its logic changes);
    - ``params``: the stage's resolved params (``Params.model_dump(mode="json")``,
      defaults included, so writing a default explicitly changes nothing);
    - ``inputs``: the fingerprints of the results it reads (its ``requires`` and
      those of its ``uses`` present in this run), by stage name;
    - ``data``: the data fingerprint;
    - ``panelml``: the panelml version;
    - ``settings``: run-wide settings the result depends on: the master seed,
      ``runtime.deterministic``, and the config sections the stage declares in
      ``config_sections`` (such as ``validation``).

    Nothing else enters: not the run id, the time, the output folder, the
    params of other stages.
    """
    return sha256_json(
        {
            "stage": stage,
            "stage_version": stage_version,
            "params": dict(params),
            "inputs": dict(input_fingerprints),
            "data": data_fingerprint,
            "panelml": panelml_version,
            "settings": dict(settings or {}),
        }
    )


@dataclass(frozen=True)
class CacheHit:
    """A result loaded from the cache, with where it came from."""

    result: StageResult
    fingerprint: str
    path: Path

    @property
    def result_dir(self) -> Path:
        """The folder the result was saved into."""
        return self.path / RESULT_DIR


class StageCache:
    """The stage cache rooted at ``root`` (``runtime.cache_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entry_path(self, stage: str, key: str) -> Path:
        """Where the entry for (stage, key) lives, whether or not it exists."""
        return self.root / stage / key

    def contains(self, stage: str, key: str) -> bool:
        """True when a complete entry exists."""
        return (self.entry_path(stage, key) / ENTRY_FILE).is_file()

    def load(self, stage: str, key: str, result_type: type[StageResult]) -> CacheHit | None:
        """The cached result, or ``None`` when there is no complete entry.

        An entry that cannot be loaded (for example written by an incompatible
        version of the result class) is treated as a miss; the caller recomputes
        and the store replaces it.
        """
        path = self.entry_path(stage, key)
        try:
            meta = json.loads((path / ENTRY_FILE).read_text(encoding="utf-8"))
            result = result_type.load(path / RESULT_DIR)
        except Exception:
            return None
        return CacheHit(result=result, fingerprint=str(meta["fingerprint"]), path=path)

    def store(self, stage: str, key: str, result: StageResult, fingerprint: str) -> Path:
        """Save ``result`` as the entry for (stage, key), atomically; returns the entry path.

        The result is saved into a temporary sibling folder which is renamed to
        the entry path at the end. If saving raises, the temporary folder is
        removed and the exception propagates; no entry appears.
        """
        final = self.entry_path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f"{_TMP_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
        try:
            (tmp / RESULT_DIR).mkdir(parents=True)
            result.save(tmp / RESULT_DIR)
            meta = {
                "stage": stage,
                "key": key,
                "fingerprint": fingerprint,
                "result_type": f"{type(result).__module__}.{type(result).__qualname__}",
                "created": time.time(),
            }
            (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
            if final.exists():
                # A stale or concurrently written entry: replace it.
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

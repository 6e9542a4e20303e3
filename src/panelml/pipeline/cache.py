"""Content-addressed cache of stage results: checksummed, atomic, safe to share.

An entry lives in ``<cache_dir>/<stage>/<key>/``: the saved result in
``result/`` and ``entry.json`` (stage, key, result fingerprint, result type,
creation time, the sha256 of every file under ``result/``, and the key's
ingredients, which ``panelml cache explain`` compares). What the key is made
of is defined in exactly one place, :func:`key_document`.

Integrity. A load checks every file against its recorded sha256 (and that no
file is missing or added) before the result is read: a damaged entry is a miss
(:class:`CacheMiss` says why), never a wrong answer, and the next store
replaces it.

Atomic, concurrent stores. A result is saved into a temporary sibling folder
(``.tmp-<key>-<host>-<pid>-<random>``) and renamed onto the entry path only when
complete, so an entry is either whole or absent. Several processes may store
the same key at once: a rename that finds a valid entry already there lost a
race with an identical result and counts as success; a damaged entry in the
way is first renamed aside (readers never see it half-deleted). Temporary
folders left by killed writers are removed (by the next store in the same
stage folder, and by :meth:`StageCache.clean` at the start of every run) when
their process is gone (same host) or they are older than
:data:`STALE_TEMP_SECONDS`; a live writer's folder is never touched.

Use is recorded for ``panelml cache prune``: a load or store sets the
modification time of ``entry.json`` (its content never changes), and each run
appends the entries it used to ``runs.jsonl`` at the cache root.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.runstate import process_alive, process_identity
from panelml.pipeline.stage import StageResult
from panelml.pipeline.storage import check_tree, tree_sha256

RESULT_DIR = "result"
ENTRY_FILE = "entry.json"
RUNS_LOG = "runs.jsonl"
_TMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 6 * 3600.0
"""Age after which a temporary folder whose writer cannot be checked is removed."""
_PUBLISH_ATTEMPTS = 5


def key_document(
    *,
    stage: str,
    stage_version: str,
    params: Mapping[str, Any],
    input_fingerprints: Mapping[str, str],
    data_fingerprint: str,
    panelml_version: str,
    code: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a stage execution's result may depend on; the key is its hash.

    - ``stage``: the stage's name;
    - ``stage_version``: the stage class's ``version`` (bumped when its logic changes);
    - ``params``: the stage's resolved params (``Params.model_dump(mode="json")``,
      defaults included, so writing a default explicitly changes nothing);
    - ``inputs``: the fingerprints of the results it reads (its ``requires`` and
      those of its ``uses`` present in this run), by stage name;
    - ``data``: the data fingerprint;
    - ``panelml``: the panelml version;
    - ``code``: :func:`panelml.pipeline.codeid.code_identity`: a digest of the
      panelml source, of the file defining the stage class, and the versions of
      python and the numeric, data and model libraries;
    - ``settings``: run-wide settings the result depends on: the master seed,
      ``runtime.deterministic``, and the config sections the stage declares in
      ``config_sections`` (such as ``validation``).

    Nothing else enters: not the run id, the time, the output folder, the
    params of other stages.
    """
    return {
        "stage": stage,
        "stage_version": stage_version,
        "params": dict(params),
        "inputs": dict(input_fingerprints),
        "data": data_fingerprint,
        "panelml": panelml_version,
        "code": dict(code),
        "settings": dict(settings or {}),
    }


def cache_key(**ingredients: Any) -> str:
    """The cache key: hex sha256 of the canonical JSON of :func:`key_document`."""
    return sha256_json(key_document(**ingredients))


@dataclass(frozen=True)
class CacheHit:
    """A verified result loaded from the cache, with where it came from."""

    result: StageResult
    fingerprint: str
    path: Path
    files: dict[str, str] = field(default_factory=dict)

    @property
    def result_dir(self) -> Path:
        """The folder the result was saved into."""
        return self.path / RESULT_DIR


@dataclass(frozen=True)
class CacheMiss:
    """No usable entry: ``damaged`` is True when one exists but failed its checks."""

    reason: str
    damaged: bool = False


def _read_entry(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((path / ENTRY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _entry_problem(path: Path, meta: dict[str, Any] | None) -> str | None:
    """Why the entry at ``path`` cannot be trusted, or ``None`` when it is intact."""
    if meta is None:
        return f"{ENTRY_FILE} is unreadable"
    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return f"{ENTRY_FILE} records no checksums (written by an older panelml)"
    if not isinstance(meta.get("fingerprint"), str):
        return f"{ENTRY_FILE} records no fingerprint"
    return check_tree(path / RESULT_DIR, files)


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path / ENTRY_FILE)


class StageCache:
    """The stage cache rooted at ``root`` (``runtime.cache_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entry_path(self, stage: str, key: str) -> Path:
        """Where the entry for (stage, key) lives, whether or not it exists."""
        return self.root / stage / key

    def contains(self, stage: str, key: str) -> bool:
        """True when a complete entry exists (its files are not checked)."""
        return (self.entry_path(stage, key) / ENTRY_FILE).is_file()

    def entry_meta(self, stage: str, key: str) -> dict[str, Any] | None:
        """The entry's ``entry.json`` content, or ``None`` when absent or unreadable."""
        return _read_entry(self.entry_path(stage, key))

    def check(self, stage: str, key: str) -> str | None:
        """Why the existing entry for (stage, key) is damaged, or ``None`` if intact."""
        path = self.entry_path(stage, key)
        return _entry_problem(path, _read_entry(path))

    # -- reading -------------------------------------------------------------------
    def lookup(self, stage: str, key: str, result_type: type[StageResult]) -> CacheHit | CacheMiss:
        """The verified cached result, or a :class:`CacheMiss` saying why not."""
        path = self.entry_path(stage, key)
        if not (path / ENTRY_FILE).is_file():
            return CacheMiss("no entry with this key")
        meta = _read_entry(path)
        problem = _entry_problem(path, meta)
        if problem is not None or meta is None:
            return CacheMiss(f"entry {path} is damaged: {problem}", damaged=True)
        try:
            result = result_type.load(path / RESULT_DIR)
        except Exception as exc:  # an incompatible result class: recompute
            return CacheMiss(f"entry {path} cannot be loaded: {exc!r}", damaged=True)
        _touch(path)
        return CacheHit(
            result=result, fingerprint=str(meta["fingerprint"]), path=path, files=meta["files"]
        )

    def load(self, stage: str, key: str, result_type: type[StageResult]) -> CacheHit | None:
        """The verified cached result, or ``None`` (see :meth:`lookup` for the reason)."""
        found = self.lookup(stage, key, result_type)
        return found if isinstance(found, CacheHit) else None

    # -- writing -------------------------------------------------------------------
    def store(
        self,
        stage: str,
        key: str,
        result: StageResult,
        fingerprint: str,
        key_inputs: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Save ``result`` as the entry for (stage, key), atomically.

        Returns the entry path, or ``None`` in the rare case that concurrent
        writers kept replacing a damaged entry and this one gave up (the result
        is then simply not cached). ``OSError`` from the file system (a full
        disk, a read-only folder) propagates, after the temporary folder is
        removed. ``key_inputs`` (the :func:`key_document`) is recorded for
        ``panelml cache explain``.
        """
        final = self.entry_path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.remove_stale_temp(final.parent)
        tmp = final.parent / _temp_name(key)
        try:
            (tmp / RESULT_DIR).mkdir(parents=True)
            result.save(tmp / RESULT_DIR)
            meta = {
                "stage": stage,
                "key": key,
                "fingerprint": fingerprint,
                "result_type": f"{type(result).__module__}.{type(result).__qualname__}",
                "created": time.time(),
                "files": tree_sha256(tmp / RESULT_DIR),
                "key_inputs": dict(key_inputs) if key_inputs is not None else None,
            }
            (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
            published = self._publish(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if published:
            _touch(final)
        return final if published else None

    def _publish(self, tmp: Path, final: Path) -> bool:
        for _ in range(_PUBLISH_ATTEMPTS):
            try:
                tmp.rename(final)
                return True
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            if _entry_problem(final, _read_entry(final)) is None:
                return True  # lost the race to an intact entry of the same key
            aside = final.parent / _temp_name(final.name)
            try:
                final.rename(aside)
            except FileNotFoundError:
                continue  # someone else moved it
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    continue
                raise
            shutil.rmtree(aside, ignore_errors=True)
        return False

    def remove_stale_temp(self, folder: Path, *, now: float | None = None) -> list[Path]:
        """Remove temporary folders in ``folder`` whose writer is gone (see module doc)."""
        removed: list[Path] = []
        cutoff = (now if now is not None else time.time()) - STALE_TEMP_SECONDS
        try:
            candidates = [p for p in folder.iterdir() if p.name.startswith(_TMP_PREFIX)]
        except OSError:
            return removed
        for path in candidates:
            writer = _temp_writer(path.name)
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if old or (writer is not None and not process_alive(writer)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def clean(self) -> list[Path]:
        """:meth:`remove_stale_temp` in every stage folder (the runner calls it once per
        run, so a stage that is never stored again does not keep leftovers)."""
        removed: list[Path] = []
        try:
            folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return removed
        for folder in folders:
            removed += self.remove_stale_temp(folder)
        return removed

    # -- use records and pruning -----------------------------------------------------
    def record_run(self, run_id: str, entries: Iterable[tuple[str, str]]) -> None:
        """Append one line to ``runs.jsonl``: the (stage, key) entries a run used."""
        line = json.dumps(
            {"run_id": run_id, "time": time.time(), "entries": [f"{s}/{k}" for s, k in entries]}
        )
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / RUNS_LOG).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def recent_runs(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` records of :meth:`record_run` (unreadable lines skipped)."""
        try:
            lines = (self.root / RUNS_LOG).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        records: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("entries"), list):
                records.append(record)
        return records[-count:] if count > 0 else []

    def entries(self) -> list[tuple[str, str, Path]]:
        """Every complete entry as ``(stage, key, path)``, in path order."""
        if not self.root.is_dir():
            return []
        return [
            (p.parent.parent.name, p.parent.name, p.parent)
            for p in sorted(self.root.glob(f"*/*/{ENTRY_FILE}"))
            if not p.parent.name.startswith(".")
        ]

    def prune(
        self,
        *,
        older_than_days: float | None = None,
        keep_runs: int | None = None,
        dry_run: bool = False,
        now: float | None = None,
    ) -> list[Path]:
        """Remove entries last used more than ``older_than_days`` ago, or not used by
        any of the last ``keep_runs`` runs; either criterion suffices. Stale temporary
        folders go too. Returns the removed (or, with ``dry_run``, removable) entries.
        """
        now = time.time() if now is None else now
        used: set[str] | None = None
        if keep_runs is not None:
            used = {str(e) for r in self.recent_runs(keep_runs) for e in r["entries"]}
        doomed: list[Path] = []
        for stage, key, path in self.entries():
            try:
                last_use = (path / ENTRY_FILE).stat().st_mtime
            except FileNotFoundError:
                continue
            too_old = older_than_days is not None and now - last_use > older_than_days * 86400
            unused = used is not None and f"{stage}/{key}" not in used
            if too_old or unused:
                doomed.append(path)
        if dry_run:
            return doomed
        for path in doomed:
            aside = path.parent / _temp_name(path.name)
            try:
                path.rename(aside)
            except OSError:
                continue
            shutil.rmtree(aside, ignore_errors=True)
        self.clean()
        return doomed


def _temp_name(key: str) -> str:
    me = process_identity()
    host = sha256_json(me["host"])[:8]
    return f"{_TMP_PREFIX}{key[:16]}-{host}-{me['pid']}-{secrets.token_hex(4)}"


def _temp_writer(name: str) -> dict[str, Any] | None:
    """The writer identity encoded in a temporary folder's name, when it has one."""
    parts = name[len(_TMP_PREFIX) :].split("-")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    me = process_identity()
    if parts[1] != sha256_json(me["host"])[:8]:
        return None
    return {"pid": int(parts[2]), "host": me["host"]}

"""Moving stage results between the cache and the run folder.

A cached result is copied into ``<run_dir>/<stage>/`` and the copy is checked
against the entry's checksums; a fresh result is stored in the cache (when the
stage is cacheable) and copied from there, or saved straight into the run
folder. Write errors become :class:`~panelml.pipeline.storage.StorageError`
naming the folder and the setting that chose it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panelml.pipeline.cache import CacheHit, StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.manifest import OUTPUT_SETTING
from panelml.pipeline.stage import Stage, StageResult
from panelml.pipeline.storage import check_tree, storage_errors, tree_sha256

CACHE_SETTING = "runtime.cache_dir"


def load_cached(cache: StageCache, ctx: RunContext, stage: Stage[Any], key: str) -> CacheHit | None:
    """The verified cache entry, copied into the run folder; ``None`` on a miss.

    The copy is checked against the entry's checksums once more, so a file
    changed between the check and the copy is never served either.
    """
    name = stage.name
    found = cache.lookup(name, key, stage.result_type)
    if not isinstance(found, CacheHit):
        if found.damaged:
            ctx.reporter.warn(f"cache: {found.reason}; recomputing {name!r}")
        return None
    target = ctx.run_dir / name
    with storage_errors(ctx.run_dir, OUTPUT_SETTING):
        copy_tree(found.result_dir, target)
    problem = check_tree(target, found.files)
    if problem is not None:
        shutil.rmtree(target, ignore_errors=True)
        ctx.reporter.warn(
            f"cache: entry {found.path} changed while being copied ({problem}); "
            f"recomputing {name!r}"
        )
        return None
    return found


def save_result(
    cache: StageCache | None,
    ctx: RunContext,
    name: str,
    key: str,
    document: Mapping[str, Any],
    result: StageResult,
    fingerprint: str,
) -> None:
    """Store a fresh result in ``cache`` (``None``: not cached) and in the run folder."""
    target = ctx.run_dir / name
    entry: Path | None = None
    if cache is not None:
        with storage_errors(cache.root, CACHE_SETTING):
            entry = cache.store(name, key, result, fingerprint, key_inputs=document)
    with storage_errors(ctx.run_dir, OUTPUT_SETTING):
        if entry is not None:
            copy_tree(entry / "result", target)
        else:
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            result.save(target)


def folder_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file in a stage's run folder (recorded in the manifest)."""
    with storage_errors(folder, OUTPUT_SETTING):
        return tree_sha256(folder) if folder.is_dir() else {}


def record_cache_use(
    cache: StageCache | None, ctx: RunContext, used: list[tuple[str, str]]
) -> None:
    """Append the entries this run used to the cache's log (for ``cache prune``)."""
    if cache is None or not used:
        return
    try:
        cache.record_run(ctx.run_id, used)
    except OSError as exc:
        ctx.reporter.warn(f"cache: cannot record this run's use of the cache: {exc}")


def copy_tree(source: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``source``."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)

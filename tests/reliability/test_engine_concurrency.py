"""Concurrent stores of one cache key, leftover temporary folders, and two runs
racing for one run folder.

Before: 2 processes x 300 stores of one key raised 19-23 exceptions
(``Directory not empty`` on rename, a missing ``entry.json``), because a store
deleted the entry another process had just published.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from panelml.pipeline.cache import (
    RESULT_DIR,
    STALE_TEMP_SECONDS,
    CacheHit,
    StageCache,
    _temp_name,
)
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.results import TableResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage

KEY = "ab" * 32
PROCESSES = 3
STORES = 60


def _result() -> TableResult:
    frame = pl.DataFrame({"x": list(range(2000)), "y": [float(i) / 7 for i in range(2000)]})
    return TableResult({"t": frame}, {"note": "same every time"})


def _hammer(root: str, start: object, errors: object) -> None:
    """Store the same key STORES times, reading it back in between."""
    cache = StageCache(Path(root))
    result = _result()
    start.wait()  # type: ignore[attr-defined]
    failures = 0
    for _ in range(STORES):
        try:
            cache.store("s", KEY, result, result.fingerprint())
            found = cache.lookup("s", KEY, TableResult)
            if isinstance(found, CacheHit) and found.result != result:
                failures += 1  # a wrong answer
        except Exception:
            failures += 1
    errors.put(failures)  # type: ignore[attr-defined]


def test_concurrent_stores_of_one_key_never_raise(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # a forked child may hang in polars' pool
    start, errors = context.Event(), context.Queue()
    workers = [
        context.Process(target=_hammer, args=(str(tmp_path), start, errors))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    assert sum(errors.get(timeout=5) for _ in workers) == 0
    cache = StageCache(tmp_path)
    assert cache.check("s", KEY) is None
    assert [p.name for p in (tmp_path / "s").iterdir()] == [KEY]  # no leftovers


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_leftover_temp_folders_are_cleaned_but_never_a_live_writers(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    cache.store("s", KEY, _result(), "f")
    stage_dir = tmp_path / "s"
    mine = _temp_name("k" * 16)  # this process: alive
    dead = mine.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    unknown_old = ".tmp-0123456789abcdef-deadbeef"  # no writer recorded (older format)
    unknown_new = ".tmp-fedcba9876543210-cafecafe"
    for name in (mine, dead, unknown_old, unknown_new):
        (stage_dir / name / RESULT_DIR).mkdir(parents=True)
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stage_dir / unknown_old, (old, old))
    cache.store("s", "cd" * 32, _result(), "f")
    left = sorted(p.name for p in stage_dir.iterdir() if p.name.startswith(".tmp-"))
    assert left == sorted([mine, unknown_new])


def test_two_runs_with_one_run_id_get_one_folder(
    toy_stages: tuple[type[Stage], ...], make_context: object
) -> None:
    ctx: RunContext = make_context(run_id="same")  # type: ignore[operator]
    ctx.run_dir.mkdir(parents=True)  # another run created it first
    stages = [cls(cls.Params()) for cls in toy_stages]
    with pytest.raises(UserError, match="already exists; choose another --run-id"):
        Pipeline(stages).run(ctx)
    assert list(ctx.run_dir.iterdir()) == []  # the other run's folder is untouched


def test_the_next_run_cleans_leftovers_of_stages_it_does_not_store(
    toy_stages: tuple[type[Stage], ...], make_context: Any, tmp_path: Path
) -> None:
    cache = StageCache(tmp_path / "cache")
    leftover = (
        tmp_path
        / "cache"
        / "not_in_this_run"
        / _temp_name("e" * 16).replace(f"-{os.getpid()}-", f"-{_dead_pid()}-")
    )
    (leftover / RESULT_DIR).mkdir(parents=True)
    alpha = toy_stages[0]
    Pipeline([alpha(alpha.Params())], cache=cache).run(make_context(run_id="r1"))
    assert not leftover.exists()

"""release_free_memory hands freed heap memory back to the operating system.

Many small buffers (below glibc's mmap threshold) are allocated and freed; glibc
keeps the freed heap, so resident memory stays up until the call. The test
asks for a drop of at least half of the 190 MB freed: a no-op (or a call that
does not reach glibc) leaves resident memory where it was.
"""

from __future__ import annotations

import ctypes.util
import gc
import sys
from pathlib import Path

import pytest

from panelml.pipeline.memory import _malloc_trim, release_free_memory


def _rss_mib() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or _malloc_trim() is None,
    reason="glibc's malloc_trim exists on glibc Linux only",
)
def test_freed_small_buffers_go_back_to_the_os() -> None:
    assert ctypes.util.find_library("c")
    keep = [bytearray(64 * 1024) for _ in range(3_000)]  # 190 MB of heap chunks
    for buffer in keep:
        buffer[::4096] = b"x" * len(buffer[::4096])  # touch every page
    marker = bytearray(1024)  # allocated last: the heap top stays in use
    held = _rss_mib()
    del keep
    gc.collect()
    before = _rss_mib()
    release_free_memory()
    after = _rss_mib()
    assert held - after > 95, (held, before, after)
    assert marker


def test_it_is_safe_to_call_repeatedly() -> None:
    for _ in range(3):
        release_free_memory()


def test_every_executor_task_releases_what_it_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The executors hand each task's freed heap back before the next task, as
    the runner does after a stage (what tasks had freed but glibc kept was 3.6x
    the float32 panel by the end of target ranking at 200k rows): one release
    per task, after the task, also when the task fails."""
    import panelml.pipeline.executor as executor

    calls: list[int] = []
    monkeypatch.setattr(executor, "release_free_memory", lambda: calls.append(len(done)))
    done: list[int] = []

    def task(item: int) -> int:
        done.append(item)
        if item == 9:
            raise ValueError("boom")
        return item

    assert executor.SerialExecutor().map(task, [1, 2, 3]) == [1, 2, 3]
    assert calls == [1, 2, 3]
    with pytest.raises(ValueError, match="boom"):
        executor.SerialExecutor().map(task, [9])
    assert calls == [1, 2, 3, 4]
    assert executor._process_task(task, None, 5) == 5 and calls[-1] == 5

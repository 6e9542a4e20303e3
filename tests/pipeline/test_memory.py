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

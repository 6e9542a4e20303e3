"""Give the heap memory a process has freed back to the operating system.

Why by hand: glibc's allocator keeps freed heap memory for reuse instead of
returning it, and native libraries free many small buffers (LightGBM frees
the per-feature samples it binned a Dataset from). Measured: after a LightGBM
Dataset of 80k rows x 200 float32 columns (61 MB) was constructed, the process
held 169 MB more than before, of which the Dataset itself was 20 MB; glibc's
``malloc_trim`` returned the other 149 MB. Nothing in the standard library or
the model libraries does this, so the runner calls :func:`release_free_memory`
after each stage and the LightGBM family after binning a dataset. It is a
no-op off Linux or without glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_free_memory() -> None:
    """Return freed heap pages to the operating system (glibc); otherwise nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

"""numpy's transparent-huge-page advice during a run (``runtime.numpy_hugepages``).

What: on Linux numpy advises the kernel to back every array of 4 MB or more
with transparent huge pages (``madvise(MADV_HUGEPAGE)``). Where the kernel's
THP ``defrag`` policy is ``madvise`` or ``defer+madvise`` (many distributions'
default), a page fault in an advised region compacts memory synchronously
when no huge page is free, and the advice outlives the array: the allocator
hands the same region out again (numpy issue 31590). A pipeline allocates and
frees large temporaries all run long, on machines whose memory other
processes fragment, so those faults stall.

Measured: the medium pipeline bench (200k rows x 100 features x 12 targets,
serial, one thread; ``docs/scaling.md``) on a shared 2-core machine whose
policy is ``madvise`` spent 27.4 s (twice) outside model calls with numpy's
advice and 24.7 s without, and its fit-and-predict floor was 1% lower. On a
quiet machine with free huge pages the advice can be faster (a fresh 64 MB
array was filled in 5.6 ms with it, 19.8 ms without, on the same machine
idle), so ``true`` keeps it.

``auto`` (the default) switches the advice off for the run when the policy
makes faults of advised regions compact synchronously, and otherwise leaves
numpy as it is. Why by hand: numpy offers only a process-wide switch (its
``NUMPY_MADVISE_HUGEPAGE`` variable, read at import, and the private
``_set_madvise_hugepage``), so the run sets it and puts it back; where numpy
lacks the switch, nothing is changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

__all__ = ["HugepageSetting", "numpy_hugepages", "set_numpy_hugepages", "wanted_hugepages"]

HugepageSetting = bool | Literal["auto"]

DEFRAG_POLICY = Path("/sys/kernel/mm/transparent_hugepage/defrag")
"""The kernel's THP defrag policy; the selected value is in brackets."""

STALLING_POLICIES = frozenset({"madvise", "defer+madvise"})
"""Policies under which a fault in an advised region compacts synchronously."""


def wanted_hugepages(setting: HugepageSetting, policy_file: Path | None = None) -> bool | None:
    """Whether numpy should advise huge pages during a run: ``True`` / ``False``,
    or ``None`` to leave numpy's own choice (``auto`` where faults do not stall,
    or the policy cannot be read; ``policy_file`` defaults to the kernel's)."""
    if setting != "auto":
        return bool(setting)
    try:
        text = (policy_file or DEFRAG_POLICY).read_text()
    except OSError:
        return None
    chosen = [word[1:-1] for word in text.split() if word.startswith("[") and word.endswith("]")]
    return False if chosen and chosen[0] in STALLING_POLICIES else None


def _switch() -> Any:
    """numpy's process-wide switch (returns the previous value), or ``None``."""
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy < 2 keeps it in numpy.core
        return None
    return getattr(multiarray, "_set_madvise_hugepage", None)


def set_numpy_hugepages(wanted: bool | None) -> bool | None:
    """Set numpy's advice for this process (``None``: leave it); returns the
    previous value, ``None`` when nothing was set. Worker processes call this
    before each task."""
    switch = _switch()
    if wanted is None or switch is None:
        return None
    return bool(switch(wanted))


@contextmanager
def numpy_hugepages(wanted: bool | None) -> Iterator[None]:
    """numpy's advice set to ``wanted`` inside the block, as it was after."""
    previous = set_numpy_hugepages(wanted)
    try:
        yield
    finally:
        set_numpy_hugepages(previous)

"""PyTorch access for the torch families: import on first use, device, threads, seeds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from panelml.models.devices import Resolved, resolve_device
from panelml.models.errors import optional_library


def torch_module(family: str) -> Any:
    """The torch module, imported on first use; a clear error when it is missing."""
    return optional_library(
        "torch",
        family,
        "PyTorch",
        "pip install 'panelml[torch]' (the CPU build: pip install torch==2.13.0)",
    )


def _gpu_reason() -> str | None:
    torch = torch_module("torch")
    if not torch.backends.cuda.is_built():
        return "this PyTorch build has no CUDA support (a CPU wheel)"
    if not torch.cuda.is_available():
        return "PyTorch finds no usable CUDA device"
    return None


def torch_device(family: str, requested: object) -> Resolved:
    """The device for ``family``'s ``device`` param (:func:`resolve_device`)."""
    return resolve_device(family, requested, _gpu_reason)


@contextmanager
def torch_session(family: str, seed: int, threads: int, deterministic: bool) -> Iterator[Any]:
    """Seeded torch with ``threads`` CPU threads (0: leave as is) and, when
    ``deterministic``, ``torch.use_deterministic_algorithms(True)``; the previous
    global settings are restored on exit. Yields the torch module."""
    torch = torch_module(family)
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    try:
        if threads > 0:
            torch.set_num_threads(threads)
        if deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(seed)
        yield torch
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)

"""Which device a family fits on: the ``device: auto | cpu | cuda`` param.

``cpu`` always runs on the CPU. ``cuda`` needs a usable GPU; when there is none
it is a config error (:class:`ModelParamsError`, a ``UserError``), never a silent
fallback. ``auto`` uses the GPU when one is usable and otherwise falls back to
the CPU with one visible warning line (:class:`DeviceFallbackWarning`; Python's
default filter shows it once per family and reason in a process) that says why.

Each family passes its own probe: a function that returns ``None`` when its
library can use a GPU here, or the reason it cannot. The device a model was
fitted on is kept in ``model.device_`` and recorded in the saved model's
``family.json`` and ``meta.json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from panelml.models.errors import ModelParamsError

__all__ = [
    "DEVICES",
    "DeviceFallbackWarning",
    "Resolved",
    "nvidia_gpu_reason",
    "resolve_device",
]

DEVICES = ("auto", "cpu", "cuda")
_REGISTRY: dict[str | tuple[str, type[Warning], int], int] = {}
Resolved = Literal["cpu", "cuda"]


class DeviceFallbackWarning(UserWarning):
    """``device: auto`` found no usable GPU and runs on the CPU (the message says why)."""


def nvidia_gpu_reason() -> str | None:
    """``None`` when the NVIDIA driver lists a GPU, else why not (no library needed)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return None
    return "no NVIDIA GPU driver or device was found"


def resolve_device(family: str, requested: object, probe: Callable[[], str | None]) -> Resolved:
    """The device to fit on for ``family``'s ``device`` param ``requested``.

    ``probe`` returns ``None`` when a GPU is usable, else the reason it is not;
    it is called only for ``auto`` and ``cuda``.
    """
    if requested not in DEVICES:
        raise ModelParamsError(
            f"model family {family!r} got device {requested!r}: set family_params.{family}.device "
            "to one of auto, cpu, cuda"
        )
    if requested == "cpu":
        return "cpu"
    reason = probe()
    if reason is None:
        return "cuda"
    if requested == "cuda":
        raise ModelParamsError(
            f"model family {family!r} asks for device 'cuda' but no GPU is usable ({reason}): "
            f"set family_params.{family}.device to 'auto' or 'cpu', or run on a machine with a GPU"
        )
    # warn_explicit with a source that has no lines: Python prints the one message
    # line (no source line below it) and its default filter shows it once per message
    warnings.warn_explicit(
        f"model family {family!r}: device 'auto' runs on the CPU because {reason}",
        DeviceFallbackWarning,
        filename="panelml",
        lineno=0,
        module="panelml.models.devices",
        registry=_REGISTRY,
    )
    return "cpu"

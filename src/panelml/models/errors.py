"""Errors of the model layer and the helpers that turn a library's refusal into one.

A :class:`ModelError` is a misuse of a family (a bug in the caller); a
:class:`ModelParamsError` is the user's: the library rejected the params the
config gave, and the message names the family and the config key to fix.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from panelml.pipeline.errors import UserError

__all__ = [
    "ModelError",
    "ModelParamsError",
    "native_stderr_silenced",
    "optional_library",
    "params_message",
    "rejected_params",
]


class ModelError(ValueError):
    """A model family was used wrongly (bad input, unknown kind, bad folder)."""


_NATIVE_SOURCE = re.compile(r"\s+at\s+/\S+, line \d+\s*\.?\s*$")


class ModelParamsError(UserError, ModelError):
    """The model library rejected a family's params (the user's to fix)."""


def params_message(family: str, exc: BaseException) -> str:
    """One sentence: which family rejected its params, the library's reason, the fix."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = _NATIVE_SOURCE.sub("", detail)  # LightGBM appends its C++ source location
    return (
        f"model family {family!r} rejected its params ({detail}): fix family_params.{family} "
        "in the stage's section of the config (see the family's documentation for valid values)"
    )


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Discard what native code writes to file descriptor 2 meanwhile.

    Model libraries print their own fatal messages (``[LightGBM] [Fatal] ...``)
    before raising; a dry construction reports the reason in its one error line.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (embedded interpreters): nothing to hide
        yield
        return
    try:
        with Path(os.devnull).open("wb") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextmanager
def rejected_params(family: str, *errors: type[BaseException]) -> Iterator[None]:
    """Re-raise the library errors ``errors`` as :class:`ModelParamsError` for ``family``."""
    try:
        yield
    except ModelError:
        raise
    except errors as exc:
        raise ModelParamsError(params_message(family, exc)) from exc


def optional_library(module: str, family: str, library: str, install: str) -> Any:
    """``module`` imported on first use by the family ``family``; when it is missing, an
    ``ImportError`` naming the library and the command that installs it (``install``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the {family!r} model family needs {library}, which is not installed; "
            f"install it with: {install}"
        ) from exc

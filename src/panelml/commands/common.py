"""What every CLI command shares: exit codes, consoles, argument types, and the
one rule that turns a user's error into one line and exit code 2.

``panelml.cli`` builds the app from this and from the command modules; the
command modules import only this module, never ``panelml.cli`` (no import cycle).
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from panelml.pipeline.errors import UserError
from panelml.pipeline.signals import RunInterrupted

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "ConfigArg",
    "JsonOpt",
    "SetOpt",
    "emit_json",
    "err_console",
    "fail",
    "json_ready",
    "out_console",
    "user_errors",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2

ConfigArg = Annotated[
    Path, typer.Argument(help="experiment YAML file", dir_okay=False, show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override a config value, KEY.PATH=VALUE (value parsed as YAML, so "
        "'pipeline.stages=[target_ranking,report]' sets a list); repeatable",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="print the listing as JSON on stdout (for scripts)")
]


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON data: NaN and infinities become ``null``, paths and
    other objects their ``str``, polars frames a list of row objects."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    to_dicts = getattr(value, "to_dicts", None)
    if callable(to_dicts):  # a polars DataFrame
        return json_ready(to_dicts())
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # a numpy scalar
        return json_ready(item())
    return str(value)


def emit_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout (what every ``--json`` prints)."""
    typer.echo(json.dumps(json_ready(value), indent=2, allow_nan=False))


def fail(exc: UserError) -> typer.Exit:
    """Print a user's error as one line on stderr; the ``typer.Exit`` (code 2) to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`UserError` into one message on stderr and exit code 2.

    Any other exception is a bug: its traceback is printed and the exit code is 1.
    """
    try:
        yield
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except RunInterrupted as exc:
        typer.echo(f"interrupted: {exc.describe()}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        typer.echo(traceback.format_exc(), err=True)
        raise typer.Exit(EXIT_FAILURE) from None

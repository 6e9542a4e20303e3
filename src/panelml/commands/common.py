"""What every CLI command shares: exit codes, consoles, argument types, and the
one rule that turns a user's error into one line and exit code 2.

``panelml.cli`` builds the app from this and from the command modules; the
command modules import only this module, never ``panelml.cli`` (no import cycle).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from panelml.pipeline.errors import UserError
from panelml.pipeline.signals import RunInterrupted

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USER_ERROR",
    "ConfigArg",
    "SetOpt",
    "err_console",
    "fail",
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
        help="override a config value, KEY.PATH=VALUE (value parsed as YAML); repeatable",
        show_default=False,
    ),
]


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


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

"""The ``panelml`` command line (typer + rich).

Commands: ``run``, ``validate``, ``stages``, ``hooks``. Other modules add
commands to the same :data:`app` with ``@app.command()``.

Startup stays fast (``panelml --help`` imports typer and nothing of the ML side):
this module and every command module import heavy libraries (polars, pydantic,
scipy, the pipeline) inside the command functions, never at module level.
``--json`` on a listing command prints one JSON document on stdout; ``run -q``
prints only the run folder on stdout and everything else on stderr, so
``RUN=$(panelml run -q x.yaml)`` works.

Exit codes: 0 success; 2 a problem the user can fix (bad config, bad usage,
bad data: one message, no traceback); 1 a stage or hook failed (a bug: the
traceback is printed); 130 / 143 the run was stopped by SIGINT / SIGTERM (it is
marked ``interrupted``; one line says so).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from panelml import __version__
from panelml.commands.common import (
    ConfigArg,
    JsonOpt,
    SetOpt,
    emit_json,
    out_console,
    user_errors,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

app = typer.Typer(
    name="panelml",
    help="Config-driven, leakage-safe training pipelines for panel data.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # plain help: typer's rich help formatter alone costs ~0.3 s of imports per call
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"panelml {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="print the panelml version and exit",
        ),
    ] = False,
) -> None:
    """Config-driven, leakage-safe training pipelines for panel data.

    Shell completion: `panelml --install-completion` (bash, zsh, fish, PowerShell).
    """


@app.command()
def run(
    config: ConfigArg,
    set_: SetOpt = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="recompute every stage (refreshes the cache)")
    ] = False,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="recompute this stage; repeatable", show_default=False),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="print only the run folder on stdout (warnings and errors go to stderr)",
        ),
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="run folder name (default: UTC time + suffix)")
    ] = None,
) -> None:
    """Run an experiment: every stage in order, into <output_dir>/<experiment>/<run_id>/."""
    from rich.markup import escape
    from rich.table import Table

    from panelml import api

    with user_errors():
        result = api.run(
            config,
            overrides=set_ or (),
            no_cache=no_cache,
            force=force or (),
            quiet=quiet,
            run_id=run_id,
        )
    if quiet or result.manifest.get("status") != "finished":
        typer.echo(str(result.run_dir))
        return
    out = out_console()
    table = Table(title=f"run {result.run_id}", title_justify="left")
    for column in ("stage", "status", "seconds", "cache key"):
        table.add_column(column)
    for row in result.manifest["stages"]:
        key = row.get("cache_key") or ""
        detail = row.get("reason") or ""
        table.add_row(
            escape(row["name"]),
            escape(row["status"] + (f" ({detail})" if detail else "")),
            f"{row['seconds']:.2f}",
            key[:12],
        )
    out.print(table)
    out.print(f"run folder: {escape(str(result.run_dir))}")


@app.command()
def validate(config: ConfigArg, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Check a config without running anything: keys, types, stages, params, order, hooks,
    model families and their params, importance kinds, executor, stage inputs, and that
    the data file exists with the configured columns."""
    from panelml.config import load_config
    from panelml.preflight import check_config, check_data_source

    with user_errors():
        cfg = load_config(config, set_ or ())
        check_config(cfg)
        check_data_source(cfg)
    if as_json:
        emit_json(
            {
                "config": str(config),
                "ok": True,
                "experiment": cfg.experiment.name,
                "stages": [
                    {"name": entry.name, "enabled": entry.enabled} for entry in cfg.pipeline.stages
                ],
                "hooks": [entry.name for entry in cfg.hooks],
            }
        )
        return
    stages = ", ".join(
        entry.name + ("" if entry.enabled else " (disabled)") for entry in cfg.pipeline.stages
    )
    typer.echo(f"{config}: ok - experiment {cfg.experiment.name!r}; stages: {stages}")


@app.command("stages")
def list_stages(as_json: JsonOpt = False) -> None:
    """List the available stages (built in, registered and installed) and their params."""
    from rich.markup import escape
    from rich.table import Table

    from panelml.config import import_builtin_stages
    from panelml.pipeline.errors import UserError
    from panelml.pipeline.registry import stages as registry

    with user_errors():
        import_builtin_stages()
        if as_json:
            emit_json(_stage_listing())
            return
        table = Table(title="stages", title_justify="left", show_lines=True)
        for column in ("stage", "requires", "param", "type", "default", "description"):
            table.add_column(column)
        for name in registry.names():
            try:
                cls = registry.get(name)
            except UserError as exc:
                table.add_row(escape(name), "", "", "", "", escape(f"cannot load: {exc}"))
                continue
            doc = (cls.__doc__ or "").strip().splitlines()
            rows = _param_rows(cls.Params)
            requires = ", ".join(getattr(cls, "requires", ()))
            if not rows:
                table.add_row(
                    escape(name), escape(requires), "-", "", "", escape(doc[0] if doc else "")
                )
            for i, (param, kind, default, description) in enumerate(rows):
                table.add_row(
                    escape(name) if i == 0 else "",
                    escape(requires) if i == 0 else "",
                    escape(param),
                    escape(kind),
                    escape(default),
                    escape(description),
                )
        out_console().print(table)


def _stage_listing() -> list[dict[str, Any]]:
    """Every available stage as JSON data: name, requires, description, params (or the
    reason it cannot be loaded)."""
    from panelml.pipeline.errors import UserError
    from panelml.pipeline.registry import stages as registry

    out: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            cls = registry.get(name)
        except UserError as exc:
            out.append({"stage": name, "error": str(exc)})
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        out.append(
            {
                "stage": name,
                "requires": list(getattr(cls, "requires", ())),
                "description": doc[0] if doc else "",
                "params": [
                    {"name": p, "type": kind, "default": default, "description": text}
                    for p, kind, default, text in _param_rows(cls.Params)
                ],
            }
        )
    return out


def _param_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    from pydantic_core import PydanticUndefined

    rows = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        kind = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        if info.default is not PydanticUndefined:
            default = repr(info.default)
        elif info.default_factory is not None:
            default = "(computed)"
        else:
            default = "(required)"
        rows.append((name, kind, default, info.description or ""))
    return rows


@app.command()
def hooks(config: ConfigArg, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Print the hook plugins of a config in the order each hook calls them."""
    from panelml.config import build_hooks, load_config

    with user_errors():
        cfg = load_config(config, set_ or ())
        manager = build_hooks(cfg)
    if as_json:
        emit_json(
            [
                {"hook": hook, "position": position, "plugin": plugin, "priority": priority}
                for hook, position, plugin, priority in manager.rows()
            ]
        )
        return
    typer.echo(manager.describe())


def _register_commands() -> None:
    """Attach the commands that live in ``panelml.commands`` (one module each)."""
    from panelml.commands import cache, demo, features, models, predict, report, runs, stability

    for module in (cache, demo, features, models, predict, report, runs, stability):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``panelml``) and ``python -m panelml``."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="panelml")

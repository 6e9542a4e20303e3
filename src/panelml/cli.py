"""The ``panelml`` command line (typer + rich).

Commands: ``run``, ``validate``, ``stages``, ``hooks``. Other modules add
commands to the same :data:`app` with ``@app.command()``.

Exit codes: 0 success; 2 a problem the user can fix (bad config, bad usage,
bad data: one message, no traceback); 1 a stage or hook failed (a bug: the
traceback is printed); 130 / 143 the run was stopped by SIGINT / SIGTERM (it is
marked ``interrupted``; one line says so).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.markup import escape
from rich.table import Table

from panelml.commands.common import ConfigArg, SetOpt, out_console, user_errors
from panelml.pipeline.errors import UserError

app = typer.Typer(
    name="panelml",
    help="Config-driven, leakage-safe training pipelines for panel data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
        bool, typer.Option("--quiet", "-q", help="no progress or tables; print the run folder")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="run folder name (default: UTC time + suffix)")
    ] = None,
) -> None:
    """Run an experiment: every stage in order, into <output_dir>/<experiment>/<run_id>/."""
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
def validate(config: ConfigArg, set_: SetOpt = None) -> None:
    """Check a config without running anything: keys, types, stages, params, order, hooks,
    model families and their params, importance kinds, executor, stage inputs, and that
    the data file exists with the configured columns."""
    from panelml.config import load_config
    from panelml.preflight import check_config, check_data_source

    with user_errors():
        cfg = load_config(config, set_ or ())
        check_config(cfg)
        check_data_source(cfg)
    stages = ", ".join(
        entry.name + ("" if entry.enabled else " (disabled)") for entry in cfg.pipeline.stages
    )
    typer.echo(f"{config}: ok - experiment {cfg.experiment.name!r}; stages: {stages}")


@app.command("stages")
def list_stages() -> None:
    """List the available stages (built in, registered and installed) and their params."""
    from panelml.config import import_builtin_stages
    from panelml.pipeline.registry import stages as registry

    with user_errors():
        import_builtin_stages()
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


def _param_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
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
def hooks(config: ConfigArg, set_: SetOpt = None) -> None:
    """Print the hook plugins of a config in the order each hook calls them."""
    from panelml.config import build_hooks, load_config

    with user_errors():
        cfg = load_config(config, set_ or ())
        manager = build_hooks(cfg)
    typer.echo(manager.describe())


def _register_commands() -> None:
    """Attach the commands that live in ``panelml.commands`` (one module each)."""
    from panelml.commands import cache, demo, features, predict, report, runs, stability

    for module in (cache, demo, features, predict, report, runs, stability):
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``panelml``) and ``python -m panelml``."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="panelml")

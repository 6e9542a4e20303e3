"""``panelml cache explain CONFIG`` and ``panelml cache prune``.

``explain`` loads the config and the data (to get the data fingerprint), then
shows per stage the ingredients of its cache key and whether a run would reuse
an entry, and if not, why (:mod:`panelml.pipeline.explain`). Nothing is run
or written.

``prune`` removes entries last used more than ``--older-than`` days ago, or not
used by any of the last ``--keep-runs`` runs that used the cache, plus
temporary folders left by killed writers (:meth:`StageCache.prune`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from panelml.commands.common import JsonOpt, emit_json, fail
from panelml.pipeline.errors import UserError

if TYPE_CHECKING:
    from panelml.pipeline.explain import StageExplanation

cache_app = typer.Typer(
    name="cache",
    help="Inspect and prune the stage cache.",
    no_args_is_help=True,
    add_completion=False,
)


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]
    return str(value)


def _ingredient_lines(document: dict[str, Any]) -> list[str]:
    lines = [
        f"version {document.get('stage_version')}, panelml {document.get('panelml')}, "
        f"data {_short(document.get('data'))}"
    ]
    inputs = document.get("inputs") or {}
    lines.append(
        "inputs: " + (", ".join(f"{k}={_short(v)}" for k, v in sorted(inputs.items())) or "none")
    )
    lines.append(f"params: {document.get('params')}")
    lines.append(f"settings: {document.get('settings')}")
    code = document.get("code") or {}
    libraries = code.get("libraries") or {}
    lines.append(
        f"code: panelml source {_short(code.get('panelml_source'))}, stage source "
        f"{_short(code.get('stage_source'))}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()))
    )
    return lines


def print_explanations(items: list[StageExplanation]) -> None:
    """Print what :func:`~panelml.pipeline.explain.explain` found, one block per stage."""
    for item in items:
        key = f" [{item.key[:12]}]" if item.key else ""
        typer.echo(f"{item.stage}: {item.verdict}{key} - {item.reason}")
        for line in _ingredient_lines(item.key_inputs) if item.key_inputs else []:
            typer.echo(f"    {line}")


@cache_app.command("explain")
def explain_command(
    config: Annotated[Path, typer.Argument(help="experiment YAML file", dir_okay=False)],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config value, KEY.PATH=VALUE; repeatable"),
    ] = None,
    force: Annotated[
        list[str] | None, typer.Option("--force", help="a stage the run would recompute")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per stage: the cache key's ingredients and whether an entry would be reused."""
    from panelml.config import build_stages, load_config
    from panelml.data import load_panel  # type: ignore[attr-defined,unused-ignore]
    from panelml.pipeline.cache import StageCache
    from panelml.pipeline.context import RunContext
    from panelml.pipeline.events import EventBus
    from panelml.pipeline.executor import SerialExecutor
    from panelml.pipeline.explain import explain
    from panelml.pipeline.reporter import Reporter
    from panelml.pipeline.runner import Pipeline

    try:
        cfg = load_config(config, set_ or ())
        data = load_panel(cfg.data, base_dir=cfg.base_dir)
        pipeline = Pipeline(
            build_stages(cfg), cache=StageCache(cfg.resolve_path(cfg.runtime.cache_dir))
        )
        ctx = RunContext(
            config=cfg,
            data=data,
            data_fingerprint=str(data.fingerprint),
            run_dir=cfg.resolve_path(cfg.runtime.output_dir) / cfg.experiment.name / "(explain)",
            run_id="(explain)",
            experiment=cfg.experiment.name,
            events=EventBus(),
            executor=SerialExecutor(),
            reporter=Reporter(quiet=True),
            seed=cfg.runtime.seed,
            deterministic=cfg.runtime.deterministic,
            n_jobs=1,
        )
        items = explain(pipeline, ctx, force=tuple(force or ()))
    except UserError as exc:
        raise fail(exc) from None
    if as_json:
        emit_json(
            [
                {
                    "stage": item.stage,
                    "verdict": item.verdict,
                    "key": item.key,
                    "reason": item.reason,
                    "key_inputs": item.key_inputs,
                }
                for item in items
            ]
        )
        return
    print_explanations(items)


@cache_app.command("prune")
def prune_command(
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="the cache folder (runtime.cache_dir)")
    ] = Path(".panelml/cache"),
    older_than: Annotated[
        float | None,
        typer.Option("--older-than", min=0, help="remove entries last used more than DAYS ago"),
    ] = None,
    keep_runs: Annotated[
        int | None,
        typer.Option("--keep-runs", min=0, help="remove entries no run of the last K used"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be removed; remove nothing")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove old or unused cache entries (either criterion removes an entry)."""
    from panelml.pipeline.cache import StageCache

    if older_than is None and keep_runs is None:
        raise fail(
            UserError("cache prune needs --older-than DAYS or --keep-runs K (or both); see --help")
        )
    if not cache_dir.is_dir():
        raise fail(
            UserError(f"{cache_dir} is not a folder; give the cache folder with --cache-dir")
        )
    cache = StageCache(cache_dir)
    before = len(cache.entries())
    removed = cache.prune(older_than_days=older_than, keep_runs=keep_runs, dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "cache_dir": str(cache_dir),
                "dry_run": dry_run,
                "entries_before": before,
                "removed": [str(path) for path in removed],
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        typer.echo(f"{verb} {path}")
    typer.echo(f"{verb} {len(removed)} of {before} entries in {cache_dir}")


def register(app: typer.Typer) -> None:
    """Add the ``cache`` command group (``explain``, ``prune``) to ``app``."""
    app.add_typer(cache_app, name="cache")

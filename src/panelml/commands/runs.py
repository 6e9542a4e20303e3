"""``panelml runs list [OUTPUT_DIR]``, ``runs diff RUN_A RUN_B``, ``runs verify RUN``.

``list`` shows every run under an output folder (experiment, run id, start,
state, duration, top selected targets); a run still marked ``running`` whose
process is gone shows as ``interrupted``. ``verify`` checks a run folder's
files against the checksums its manifest and model ``meta.json`` files record
(:mod:`panelml.pipeline.verify`); exit 0 when intact, 2 when not. ``diff`` compares two runs: config
changes, data fingerprint, ranking scores, selected-feature overlap, training
metrics, result-file content, and a verdict (identical / stable / drifting /
diverged; thresholds in :class:`panelml.stability.compare.DiffThresholds`).
The logic is in :mod:`panelml.stability.compare`; this module only prints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from panelml.commands.common import JsonOpt, emit_json, fail
from panelml.pipeline.errors import UserError

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    from panelml.stability.compare import RunDiff

_MAX_ROWS = 30

runs_app = typer.Typer(
    name="runs", help="List and compare runs.", no_args_is_help=True, add_completion=False
)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:+.4f}" if signed else f"{value:.4f}"
    return str(value)


def _short(value: Any, width: int = 60) -> str:
    text = "-" if value is None else repr(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


@runs_app.command("list")
def list_command(
    output_dir: Annotated[
        Path, typer.Argument(help="the runs folder (runtime.output_dir) or an experiment folder")
    ] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """List the runs under OUTPUT_DIR, oldest first per experiment."""
    from rich.markup import escape
    from rich.table import Table

    from panelml.pipeline.runstate import run_state
    from panelml.stability.compare import list_runs

    try:
        runs = list_runs(output_dir)
    except UserError as exc:
        raise fail(exc) from None
    if as_json:
        emit_json(
            [
                {
                    "experiment": run.experiment,
                    "run_id": run.run_id,
                    "started": run.started,
                    "status": run_state(run.path),
                    "seconds": run.seconds,
                    "top_targets": run.top_targets,
                    "path": str(run.path),
                }
                for run in runs
            ]
        )
        return
    if not runs:
        typer.echo(f"no runs under {output_dir}")
        return
    table = Table(title=f"runs in {output_dir}", title_justify="left")
    for column in ("experiment", "run id", "started (UTC)", "status", "seconds", "top targets"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            escape(run.experiment),
            escape(run.run_id),
            escape(run.started or "-"),
            escape(run_state(run.path)),
            "-" if run.seconds is None else f"{run.seconds:.1f}",
            escape(", ".join(run.top_targets) or "-"),
        )
    _console().print(table)


def _resolve(ref: Path, runs_dir: Path) -> Path:
    """A run folder path, or a run id looked up as ``<runs_dir>/*/<run_id>``."""
    from panelml.stability.compare import RunsError

    if ref.is_dir():
        return ref
    matches = sorted(p.parent for p in runs_dir.glob(f"*/{ref.name}/manifest.json"))
    if len(matches) == 1 and len(ref.parts) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RunsError(
            f"run id {ref.name!r} exists in several experiments under {runs_dir} "
            f"({', '.join(m.parent.name for m in matches)}); give the run folder path"
        )
    raise RunsError(
        f"{ref} is neither a run folder nor a run id under {runs_dir}; give "
        "runs/<experiment>/<run_id> or set --runs-dir"
    )


def _frame_table(title: str, frame: pl.DataFrame, signed: set[str]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(column)
    for row in frame.head(_MAX_ROWS).iter_rows():
        table.add_row(
            *(escape(_fmt(v, signed=c in signed)) for c, v in zip(frame.columns, row, strict=True))
        )
    if frame.height > _MAX_ROWS:
        table.caption = f"{frame.height - _MAX_ROWS} more rows not shown"
    return table


def print_diff(diff: RunDiff, console: Console) -> None:
    """Print a :class:`RunDiff` (what ``panelml runs diff`` shows)."""
    from rich.markup import escape
    from rich.table import Table

    console.print(
        f"[bold]{escape(diff.a.run_id)}[/bold] vs [bold]{escape(diff.b.run_id)}[/bold]: "
        f"[bold]{diff.classification}[/bold]"
    )
    for reason in diff.reasons:
        console.print(f"  {escape(reason)}")
    if diff.config:
        table = Table(title="config changes", title_justify="left")
        for column in ("key", "a", "b"):
            table.add_column(column)
        for change in diff.config:
            table.add_row(escape(change.key), escape(_short(change.a)), escape(_short(change.b)))
        console.print(table)
    else:
        console.print("config: same")
    if diff.same_data:
        console.print(f"data: same ({escape(str(diff.data_a))[:16]})")
    else:
        console.print(
            f"data: [yellow]changed[/yellow] ({escape(str(diff.data_a))[:16]} -> "
            f"{escape(str(diff.data_b))[:16]})"
        )
    if diff.scores.height:
        console.print(_frame_table("target scores (delta = b - a)", diff.scores, {"delta"}))
    if diff.selections.height:
        console.print(_frame_table("selected features per target", diff.selections, set()))
    if diff.metrics.height:
        console.print(
            _frame_table("training ic_mean (summary rows, delta = b - a)", diff.metrics, {"delta"})
        )
    same = diff.files_compared - len(diff.files_differing)
    console.print(f"result files: {same} of {diff.files_compared} identical")
    for path in diff.files_differing[:_MAX_ROWS]:
        console.print(f"  differs: {escape(path)}")


@runs_app.command("diff")
def diff_command(
    run_a: Annotated[Path, typer.Argument(help="first run folder (or run id)")],
    run_b: Annotated[Path, typer.Argument(help="second run folder (or run id)")],
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="where run ids are looked up")
    ] = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """Compare two runs: config, data, scores, selections, metrics, files; and a verdict."""
    from panelml.stability.compare import diff_runs

    try:
        diff = diff_runs(_resolve(run_a, runs_dir), _resolve(run_b, runs_dir))
    except UserError as exc:
        raise fail(exc) from None
    if as_json:
        emit_json(diff_document(diff))
        return
    print_diff(diff, _console())


def diff_document(diff: RunDiff) -> dict[str, Any]:
    """A :class:`RunDiff` as JSON data (what ``panelml runs diff --json`` prints)."""
    return {
        "a": {"run_id": diff.a.run_id, "path": str(diff.a.path)},
        "b": {"run_id": diff.b.run_id, "path": str(diff.b.path)},
        "classification": diff.classification,
        "reasons": diff.reasons,
        "config": [{"key": c.key, "a": c.a, "b": c.b} for c in diff.config],
        "data": {"a": diff.data_a, "b": diff.data_b, "same": diff.same_data},
        "scores": diff.scores,
        "selections": diff.selections,
        "metrics": diff.metrics,
        "files_compared": diff.files_compared,
        "files_differing": diff.files_differing,
    }


@runs_app.command("verify")
def verify_command(
    run: Annotated[Path, typer.Argument(help="a run folder (or run id)")],
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="where run ids are looked up")
    ] = Path("runs"),
) -> None:
    """Check that a run finished and that its files are the ones it wrote."""
    from panelml.pipeline.verify import verify_run

    try:
        folder = _resolve(run, runs_dir)
    except UserError as exc:
        raise fail(exc) from None
    result = verify_run(folder)
    if result.ok:
        typer.echo(f"{folder}: ok ({result.state}; {result.files_checked} files match)")
        return
    for problem in result.problems[:_MAX_ROWS]:
        typer.echo(f"  {problem}", err=True)
    if len(result.problems) > _MAX_ROWS:
        typer.echo(f"  ... and {len(result.problems) - _MAX_ROWS} more", err=True)
    raise fail(
        UserError(
            f"run folder {folder} failed verification ({len(result.problems)} problem(s)); "
            "rerun the experiment to rebuild it"
        )
    )


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command group (``list``, ``diff``, ``verify``) to ``app``."""
    app.add_typer(runs_app, name="runs")

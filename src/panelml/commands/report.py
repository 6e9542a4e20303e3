"""``panelml report RUN_DIR [--out PATH]``: re-render the report of an existing run.

Reads the saved results, ``config.yaml`` and ``manifest.json`` of the run folder
(nothing is recomputed, the data is not loaded) and writes ``report.html``,
by default into the run folder itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from panelml.commands.common import EXIT_USER_ERROR, err_console


def report(
    run_dir: Annotated[
        Path, typer.Argument(help="a run folder: runs/<experiment>/<run_id>", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="where to write the report (default: RUN_DIR/report.html)"),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete", help="render a run that did not finish (running, failed, ...)"
        ),
    ] = False,
) -> None:
    """Re-render report.html from a finished run folder, without rerunning anything.

    A run whose manifest is not ``finished`` is refused unless ``--allow-incomplete``.
    """
    from rich.markup import escape

    from panelml.pipeline.errors import UserError
    from panelml.pipeline.run_folder import write_text_atomic
    from panelml.predict import require_finished
    from panelml.report import RunFolderError, fill_run_record, load_run_folder, render_report
    from panelml.report.run_folder import REPORT_FILE

    try:
        folder = load_run_folder(run_dir)
        require_finished(run_dir, allow_incomplete=allow_incomplete)
    except (RunFolderError, UserError) as exc:
        err_console().print(f"error: {escape(str(exc))}")
        raise typer.Exit(EXIT_USER_ERROR) from None
    for warning in folder.warnings:
        err_console().print(f"[yellow]warning:[/yellow] {escape(warning)}")
    target = out if out is not None else run_dir / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    html = fill_run_record(render_report(folder.inputs), run_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, html)
    except OSError as exc:
        err_console().print(
            f"error: cannot write the report to {escape(str(target))}: "
            f"{escape(exc.strerror or str(exc))}; choose another --out"
        )
        raise typer.Exit(EXIT_USER_ERROR) from None
    typer.echo(str(target))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app`` (the main ``panelml`` CLI)."""
    app.command("report")(report)

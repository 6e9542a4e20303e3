"""``panelml stability EXPERIMENT_DIR``: how stable an experiment's features are across runs.

Reads the experiment's snapshot store (``<output_dir>/<experiment>/stability/
snapshots.parquet``, written by the ``stability_snapshots`` hook) and prints one
row per target and method: number of runs, Nogueira's Phi with its 95%
interval, mean top-k Jaccard over all pairs of runs, mean Kendall tau between
consecutive runs, and the most and least stable features. Nothing is rerun and
the data is not loaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from panelml.commands.common import JsonOpt, emit_json, fail
from panelml.pipeline.errors import UserError

if TYPE_CHECKING:
    import polars as pl


def _num(value: object, digits: int = 3) -> str:
    if not isinstance(value, int | float) or math.isnan(float(value)):
        return "-"
    return f"{float(value):.{digits}f}"


def stability_table(experiment_dir: Path, *, k: int = 10) -> pl.DataFrame:
    """The per (target, method) history summary of an experiment folder's finished runs."""
    from panelml.stability.history import finished_runs_only, history_stability
    from panelml.stability.snapshots import SnapshotStore

    store = SnapshotStore.for_experiment(experiment_dir)
    if not store.parts():
        raise UserError(
            f"no stability snapshots in {store.path}; give an experiment folder "
            "(<output_dir>/<experiment>) of runs made with the stability_snapshots hook on"
        )
    snapshots, _ = finished_runs_only(store.read(), experiment_dir)
    report, _ = history_stability(snapshots, current_run=None, k=k)
    return report


def stability(
    experiment_dir: Annotated[
        Path,
        typer.Argument(help="an experiment folder: <output_dir>/<experiment>", show_default=False),
    ],
    k: Annotated[int, typer.Option("--k", min=1, help="size of the top-k sets (Jaccard)")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Stability of feature selections and importances across an experiment's runs."""
    import polars as pl
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    try:
        report = stability_table(experiment_dir, k=k)
    except UserError as exc:
        raise fail(exc) from None
    if as_json:
        emit_json(report)
        return
    table = Table(
        title=f"stability across runs: {experiment_dir.name}",
        title_justify="left",
        caption="Phi: Nogueira et al. (JMLR 2018), 1 = identical selections, ~0 = chance. "
        "Least stable: selected in about half of the runs.",
    )
    columns = (
        "target",
        "method",
        "runs",
        "Phi",
        "95% CI",
        f"Jaccard@{k}",
        "Kendall tau",
        "most stable",
        "least stable",
        "status",
    )
    for column in columns:
        table.add_column(column)
    for row in report.iter_rows(named=True):
        interval = (
            "-"
            if math.isnan(row["nogueira_ci_low"])
            else f"{row['nogueira_ci_low']:.3f} to {row['nogueira_ci_high']:.3f}"
        )
        table.add_row(
            escape(row["target"]),
            escape(row["method"]),
            str(row["n_runs"]),
            _num(row["nogueira"]),
            interval,
            _num(row["jaccard_mean"]),
            _num(row["kendall_mean"]),
            escape(row["most_stable"] or "-"),
            escape(row["least_stable"] or "-"),
            row["status"],
        )
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for message in report.filter(pl.col("status") == "warn")["message"].to_list():
        console.print(f"[yellow]warning:[/yellow] {escape(str(message))}")


def register(app: typer.Typer) -> None:
    """Add the ``stability`` command to ``app`` (the main ``panelml`` CLI)."""
    app.command("stability")(stability)

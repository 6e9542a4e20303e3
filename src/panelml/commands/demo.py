"""``panelml demo [--out DIR]``: run the full pipeline on the bundled synthetic panel
and show how well it recovered the planted truth."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from panelml.demo import Recovery


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.3f}"


def print_summary(console: Console, recovery: Recovery, run_dir: Path, seconds: float) -> None:
    """The demo's closing summary: targets, features, leaks, where the report is."""
    from rich.table import Table

    targets = Table(title="Targets: planted truth vs what the run found", title_justify="left")
    for column in ("target", "planted rank IC", "score (OOF rank IC)", "status"):
        targets.add_column(column)
    for t in sorted(recovery.targets, key=lambda t: -t.score if math.isfinite(t.score) else 9):
        targets.add_row(t.target, f"{t.strength:.3f}", _fmt(t.score), t.status)
    console.print(targets)

    features = Table(title="Features selected per selected target", title_justify="left")
    for column in ("target", "selected (top 6)", "planted signal found", "recall"):
        features.add_column(column)
    for t in recovery.targets:
        if t.status != "selected":
            continue
        recall = "-" if math.isnan(t.recall) else f"{t.recall:.0%}"
        features.add_row(
            t.target,
            ", ".join(t.selected_features[:6]) + (" ..." if len(t.selected_features) > 6 else ""),
            f"{len(t.found)}/{len(t.signal_features)}",
            recall,
        )
    console.print(features)

    leaks = Table(title="Planted leaks", title_justify="left")
    for column in ("feature", "target", "kind", "caught by"):
        leaks.add_column(column)
    for feature, target, kind, caught in recovery.leaks:
        leaks.add_row(feature, target, kind, caught or "[red]not caught[/red]")
    console.print(leaks)

    verdicts = [
        f"ranking vs planted strength: Spearman {recovery.rank_correlation:.2f}",
        "noise targets selected: "
        + (", ".join(recovery.noise_selected) if recovery.noise_selected else "none"),
        f"leaks caught: {recovery.leaks_caught}/{len(recovery.leaks)}",
    ]
    console.print("[bold]Recovery:[/bold] " + "; ".join(verdicts))
    console.print(f"Run folder: {run_dir}")
    report = run_dir / "report.html"
    if report.exists():
        console.print(f"Report: {report}")
    console.print(f"Finished in {seconds:.1f}s.")


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="folder for the demo data, config and runs")
    ] = Path("panelml-demo"),
    seed: Annotated[int, typer.Option(help="seed of the synthetic panel")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="print only the summary")] = False,
) -> None:
    """Run the full pipeline on a synthetic panel with planted truth and check recovery."""
    from rich.console import Console

    from panelml.api import run
    from panelml.commands.common import user_errors
    from panelml.demo import assess, load_truth, write_demo

    console = Console(highlight=False)
    with user_errors():
        config_path = write_demo(out, seed=seed)
        console.print(f"Demo data and config in {out} (config: {config_path})")
        started = time.perf_counter()
        result = run(config_path, quiet=quiet)
        seconds = time.perf_counter() - started
        recovery = assess(result.run_dir, load_truth(out))
        print_summary(console, recovery, result.run_dir, seconds)


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""
    app.command("demo")(demo)

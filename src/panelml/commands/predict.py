"""``panelml predict RUN_DIR --data PATH --out PATH``: score new data with a run's models.

Loads every model saved under ``RUN_DIR/models`` (:func:`panelml.predict.load_run`),
reads only the symbol, timestamp and feature columns they need from ``--data``
(a parquet or CSV file, folder or glob; targets need not be present), and writes
one row per input row: symbol, timestamp, ``<target>__<family>``,
``<target>__ensemble`` (a rank within each timestamp) and, for binary targets,
``<target>__ensemble_proba`` (the mean of the families' probabilities). The
output is written atomically, as parquet (``.parquet``, ``.pq``) or CSV (``.csv``)
by its suffix; any other suffix is refused before anything is computed.
Warnings (a timestamp with a single row, infinite feature values) go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def predict(
    run_dir: Annotated[
        Path, typer.Argument(help="a run folder: runs/<experiment>/<run_id>", show_default=False)
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="parquet / CSV file, folder or glob to score", show_default=False
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="output file: .parquet / .pq, or .csv", show_default=False),
    ],
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="use a run that did not finish (running, failed, interrupted)",
        ),
    ] = False,
) -> None:
    """Score new data with the models a run saved; print the output path.

    Columns: <target>__<family> per model; <target>__ensemble, a rank among the symbols
    of each timestamp (0.5 where a timestamp has one row: a warning says so);
    <target>__ensemble_proba for binary targets, the mean of the families' P(y=1).
    A run whose manifest is not ``finished`` is refused unless ``--allow-incomplete``.
    """
    import warnings

    from panelml.commands.common import user_errors
    from panelml.predict import frame_warnings, load_run, output_format, read_frame, write_frame

    with user_errors():
        output_format(out)
        models = load_run(run_dir, allow_incomplete=allow_incomplete)
        frame = read_frame(data, models)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            scores = models.predict(frame)
        for warning in frame_warnings(frame, models):
            typer.echo(f"warning: data: {warning}", err=True)
        for item in caught:
            typer.echo(f"warning: {item.message}", err=True)
        try:
            path = write_frame(scores, out)
        except OSError as exc:
            from panelml.predict import PredictError

            raise PredictError(
                f"cannot write predictions to {out}: {exc.strerror or exc}; choose another --out"
            ) from None
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app`` (the main ``panelml`` CLI)."""
    app.command("predict")(predict)

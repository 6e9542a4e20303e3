"""``panelml features build PRICES --out PATH [--config YAML]``: build point-in-time
features and forward labels from long-format prices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

features_app = typer.Typer(
    name="features", help="Build features and labels from prices.", no_args_is_help=True
)


@features_app.command("build")
def build(
    prices: Annotated[
        Path,
        typer.Argument(
            help="long-format prices (parquet file/folder/glob or CSV) with symbol, "
            "timestamp, close (open/high/low/volume optional)",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="output parquet file", show_default=False)],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML with a FeatureSpec (bare or under 'features:')"),
    ] = None,
) -> None:
    """Write a feature/label panel that `panelml run` can read."""
    from pydantic import ValidationError

    from panelml.commands.common import user_errors
    from panelml.features import FeatureBuildError, build_features_file, load_feature_spec
    from panelml.pipeline.errors import UserError

    with user_errors():
        try:
            spec = load_feature_spec(config) if config is not None else None
            frame = build_features_file(prices, out, spec)
        except FeatureBuildError as exc:
            raise UserError(str(exc)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "top level"
            raise UserError(
                f"{config}: features.{where}: {first['msg']} (got {first.get('input')!r}); "
                "see `FeatureSpec` in panelml.features for the accepted keys"
            ) from None
        typer.echo(f"wrote {frame.height} rows x {frame.width} columns to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``features`` command group to ``app``."""
    app.add_typer(features_app)

"""DataConfig: the ``data:`` section of an experiment YAML."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from panelml.data.horizons import parse_interval


class DataConfig(BaseModel):
    """Where the panel is and which columns are what.

    ``path`` is relative to the config file's folder when not absolute; it may be
    one parquet file, a folder of parquet files (hive partitions such as
    ``symbol=AAPL/`` or ``interval=5m/symbol=AAPL/`` are read as columns), a glob,
    or a CSV file (or a folder / glob of CSV files).

    Target horizons (in bars) come from ``horizons`` (exact name first, then the
    first matching glob key), else from the target's name (see
    :func:`panelml.data.horizons.horizon_from_name`), else 1.
    """

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="parquet file, folder of parquet files, glob, or CSV file")
    format: str = Field("auto", pattern="^(auto|parquet|csv)$")
    symbol_column: str = "symbol"
    timestamp_column: str = "timestamp"
    targets: list[str] = Field(
        default_factory=lambda: ["fwd_*", "y_*"], description="target names or glob patterns"
    )
    features: list[str] | None = Field(
        None, description="feature names or globs; default: every other numeric column"
    )
    exclude: list[str] = Field(default_factory=list, description="names/globs never used")
    horizons: dict[str, int] = Field(
        default_factory=dict, description="target name (or glob) -> horizon in bars"
    )
    bar_interval: str | None = Field(None, description="bar length such as 5m, 1h, 1d")
    binary_targets: list[str] | None = Field(
        None, description="names/globs of binary targets; default: targets whose values are 0/1"
    )

    @field_validator("bar_interval")
    @classmethod
    def _check_bar_interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval(value)  # raises ValueError with the accepted forms
        return value

    @field_validator("horizons")
    @classmethod
    def _check_horizons(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"horizons must be at least 1 bar; got {bad}")
        return value

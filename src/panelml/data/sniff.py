"""Look at raw files before trusting a parse: wrong format, wrong separator, mixed
time-zone offsets.

Polars reads almost anything as *something*: a parquet file read as CSV gives
binary column names, a ``;``-separated CSV gives one giant column, and a CSV
whose timestamps carry different UTC offsets is silently converted to UTC
instants. Each of these gets a message here that names the cause.

Mixed offsets policy: timestamps written with several UTC offsets (``+00:00``
and ``+01:00``, daylight saving time, files from several zones) are converted
to UTC instants, which is what they mean, and a warning names the offsets and
the resulting count of distinct timestamps, because the same wall-clock time
written with two offsets becomes two timestamps. An error would refuse every
exchange file exported in local time across a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from panelml.data.errors import DataError

if TYPE_CHECKING:
    from panelml.data.loaders import Source

__all__ = ["check_single_column", "check_text_files", "mixed_offset_warnings"]

_PARQUET_MAGIC = b"PAR1"
_OTHER_SEPARATORS = (";", "\t", "|")
_OFFSET_PATTERN = r"(Z|[+-]\d{2}:?\d{2})$"


def check_text_files(source: Source, setting: str = "data.path") -> None:
    """A :class:`DataError` when a file to be read as CSV is binary (parquet or other)."""
    for path in source.files:
        try:
            with path.open("rb") as handle:
                head = handle.read(4096)
        except OSError:
            return  # the scan reports unreadable files with its own message
        if head.startswith(_PARQUET_MAGIC):
            raise DataError(
                f"{path} is a parquet file (it starts with the parquet magic bytes) but is read "
                f"as CSV: set data.format to 'parquet' or 'auto' (or give {setting} a .parquet "
                "file name)"
            )
        if b"\x00" in head:
            raise DataError(
                f"{path} is a binary file, not CSV text: point {setting} at a CSV or parquet "
                "file, or set data.format to match the file"
            )


def check_single_column(
    source: Source, schema: Mapping[str, pl.DataType], setting: str = "data"
) -> None:
    """A :class:`DataError` when a CSV parsed into one column whose name holds another
    separator (``;``, tab, ``|``): the file is not comma-separated."""
    if source.format != "csv" or len(schema) != 1:
        return
    header = next(iter(schema))
    for separator in _OTHER_SEPARATORS:
        if separator in header:
            shown = {"\t": "tab"}.get(separator, repr(separator))
            raise DataError(
                f"{source.display} reads as one column {header[:60]!r} because its values are "
                f"separated by {shown}, not commas: save it comma-separated (or as .tsv for tabs) "
                f"before using it as {setting}"
            )


def mixed_offset_warnings(
    source: Source, lazy: pl.LazyFrame, schema: Mapping[str, pl.DataType], column: str
) -> list[str]:
    """A warning when a CSV's timestamps carry more than one UTC offset (module doc)."""
    dtype = schema.get(column)
    if source.format != "csv" or not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        return []
    try:
        raw = pl.scan_csv(
            source.scan,
            separator=source.separator,
            schema_overrides={column: pl.String},
            infer_schema_length=0,
        ).select(pl.col(column).str.extract(_OFFSET_PATTERN, 1).alias("offset"), pl.col(column))
        offsets = raw.select(pl.col("offset").drop_nulls().unique().sort()).collect()
        if offsets.height < 2:
            return []
        counts = lazy.select(
            pl.col(column).n_unique().alias("instants"),
        ).collect()
        walls = raw.select(
            pl.col(column).str.replace(_OFFSET_PATTERN, "").n_unique().alias("walls")
        ).collect()
    except (pl.exceptions.PolarsError, OSError):
        return []
    shown = ", ".join(str(o) for o in offsets["offset"].to_list()[:6])
    return [
        f"timestamps carry {offsets.height} different UTC offsets "
        f"({shown}); they were converted to UTC, giving {counts['instants'][0]} distinct "
        f"timestamps from {walls['walls'][0]} distinct wall-clock times: if the offsets are "
        "wrong, fix the file"
    ]

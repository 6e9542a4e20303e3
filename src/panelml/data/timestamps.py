"""Timestamps as int64 in the Panel, and back to the user's own type.

Datetimes become nanoseconds since the Unix epoch (time zones: the UTC instant),
dates become nanoseconds at midnight, integers stay integers. The original type
is recorded as a short string so outputs can be written back in it:
``"datetime[ns]"``, ``"datetime[us, Europe/London]"``, ``"date"``, ``"int64"``,
``"int32"``, and so on.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.errors import DataError

_DATETIME = re.compile(r"^datetime\[(ms|us|ns)(?:, (.+))?\]$")
_INTEGER_TYPES: dict[str, type[pl.DataType]] = {
    "int8": pl.Int8,
    "int16": pl.Int16,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "uint8": pl.UInt8,
    "uint16": pl.UInt16,
    "uint32": pl.UInt32,
    "uint64": pl.UInt64,
}


def encode_timestamps(
    series: pl.Series, *, column: str, source: str
) -> tuple[npt.NDArray[np.int64], str]:
    """``series`` as int64 values plus the string that records its original type."""
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        unit = dtype.time_unit or "us"
        name = (
            f"datetime[{unit}]"
            if dtype.time_zone is None
            else f"datetime[{unit}, {dtype.time_zone}]"
        )
        values = series.dt.cast_time_unit("ns").to_physical()
    elif dtype == pl.Date:
        name = "date"
        values = series.cast(pl.Datetime("ns")).to_physical()
    elif dtype.is_integer():
        name = str(dtype).lower()
        values = series.cast(pl.Int64, strict=False)
        if values.null_count() > series.null_count():
            raise DataError(
                f"timestamp column {column!r} in {source} holds integers too large for int64: "
                "store timestamps as datetimes or smaller integers"
            )
    else:
        raise DataError(
            f"timestamp column {column!r} in {source} has type {dtype}, which is not a "
            "datetime, date or integer: convert it to one of those (for CSV, write ISO 8601 "
            "dates such as 2020-01-31 or 2020-01-31T09:30:00)"
        )
    return np.asarray(values.to_numpy(), dtype=np.int64), name


def decode_timestamps(
    values: npt.NDArray[np.int64], dtype: str, name: str = "timestamp"
) -> pl.Series:
    """int64 timestamps back as a polars Series of the recorded original type."""
    raw = pl.Series(name, np.asarray(values, dtype=np.int64), dtype=pl.Int64)
    match = _DATETIME.match(dtype)
    if match is not None:
        unit, zone = match.group(1), match.group(2)
        as_ns = raw.cast(pl.Datetime("ns", zone))
        return as_ns.dt.cast_time_unit(unit)  # type: ignore[arg-type]
    if dtype == "date":
        return raw.cast(pl.Datetime("ns")).dt.date()
    if dtype in _INTEGER_TYPES:
        return raw.cast(_INTEGER_TYPES[dtype])
    raise ValueError(
        f"unknown timestamp type {dtype!r}; expected datetime[..], date or an integer type"
    )


def format_timestamp(value: int, dtype: str) -> str:
    """One int64 timestamp as readable text in its original type (for messages)."""
    return str(decode_timestamps(np.array([value], dtype=np.int64), dtype)[0])

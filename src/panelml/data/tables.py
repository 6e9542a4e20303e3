"""Tables from other libraries: polars, pandas and pyarrow in, polars inside.

Every public entry that takes a table (``panelml.run(data=...)``,
``RunModels.predict``, ``panelml.panel_from_frame``) passes it through
:func:`as_polars` first, so the rest of panelml only ever sees a polars
``DataFrame``. pandas and pyarrow are recognised by their type's module and are
never imported here: a user who has neither pays nothing.

A pandas frame whose index carries names (for example a ``(date, asset)``
MultiIndex, the alphalens layout) keeps those levels as columns; an unnamed
default index is dropped.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from panelml.pipeline.errors import UserError

__all__ = ["TABLE_KINDS", "as_polars", "is_table"]

TABLE_KINDS = "a polars DataFrame or LazyFrame, a pandas DataFrame or a pyarrow Table"


def _module(obj: object) -> str:
    return type(obj).__module__.partition(".")[0]


def is_table(obj: object) -> bool:
    """True for a table :func:`as_polars` accepts."""
    if isinstance(obj, pl.DataFrame | pl.LazyFrame):
        return True
    name = type(obj).__name__
    return (_module(obj) == "pandas" and name == "DataFrame") or (
        _module(obj) == "pyarrow" and name in ("Table", "RecordBatch")
    )


def as_polars(obj: Any, *, what: str = "data") -> pl.DataFrame:
    """``obj`` as a polars ``DataFrame`` (see the module docstring); ``what`` names
    the argument in the error raised for anything else."""
    if isinstance(obj, pl.DataFrame):
        return obj
    if isinstance(obj, pl.LazyFrame):
        return obj.collect()
    if _module(obj) == "pandas" and type(obj).__name__ == "DataFrame":
        return _from_pandas(obj, what)
    if _module(obj) == "pyarrow" and type(obj).__name__ in ("Table", "RecordBatch"):
        frame = pl.from_arrow(obj)
        assert isinstance(frame, pl.DataFrame)  # a Table or RecordBatch gives a frame
        return frame
    raise UserError(
        f"{what} is a {type(obj).__module__}.{type(obj).__name__}, not a table: pass "
        f"{TABLE_KINDS} with one row per symbol and timestamp"
    )


def _from_pandas(frame: Any, what: str) -> pl.DataFrame:
    names = [n for n in frame.index.names if n is not None]
    if names:
        clash = [n for n in names if n in frame.columns]
        if clash:
            raise UserError(
                f"{what}: the pandas index level {clash[0]!r} is also a column; "
                "drop one of them (frame.reset_index(drop=True) or frame.drop(columns=...))"
            )
        frame = frame.reset_index(level=names)
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise UserError(
            f"{what}: column name {bad[0]!r} is not a string; rename the pandas columns "
            "to strings (frame.columns = frame.columns.map(str))"
        )
    try:
        return pl.from_pandas(frame, include_index=False)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise UserError(
            f"{what}: cannot convert the pandas frame ({exc}); give columns of numbers, "
            "strings or datetimes"
        ) from None

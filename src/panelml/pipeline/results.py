"""Reusable StageResult implementations: named tables, and small JSON records.

Most stages produce one or more tables plus a few scalars. :class:`TableResult`
stores named polars DataFrames (one parquet file each) and a JSON dict of
metadata; :class:`JsonResult` stores one JSON-serialisable dict. Stages may use
them directly or subclass them to add typed accessors::

    class RankingResult(TableResult):
        @property
        def ranking(self) -> pl.DataFrame:
            return self.tables["ranking"]

Loading goes through ``cls.from_parts`` and never calls a subclass's
``__init__``, so subclasses may define their own constructors freely.

Fingerprints describe the *content*, not the files: they do not depend on the
parquet writer, compression or library versions (see :func:`frame_digest`).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from panelml.pipeline.hashing import canonical_json
from panelml.pipeline.stage import StageResult

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")
_INDEX_FILE = "result.json"


def frame_digest(frame: pl.DataFrame) -> str:
    """A stable sha256 of a DataFrame's content (row-order sensitive).

    Hashed, in order: the column names and dtypes, then per column its null
    mask and its values. Numbers, booleans and temporal values are hashed as
    their little-endian physical bytes (nulls as zero; every NaN as one canonical
    NaN); strings, categoricals and enums as length-prefixed UTF-8; nested types
    as canonical JSON. This uses only what polars guarantees to return, not
    ``hash_rows`` (whose output changes across versions) nor parquet bytes.
    """
    h = hashlib.sha256()
    h.update(canonical_json([[n, str(t)] for n, t in frame.schema.items()]).encode())
    for series in frame.get_columns():
        h.update(b"\x00col")
        h.update(series.is_null().to_numpy().astype(np.uint8).tobytes())
        h.update(_series_bytes(series))
    return h.hexdigest()


def _series_bytes(series: pl.Series) -> bytes:
    dtype = series.dtype
    if dtype.is_numeric() or dtype == pl.Boolean or dtype.is_temporal():
        physical = series.to_physical()
        if physical.dtype == pl.Boolean:
            physical = physical.cast(pl.UInt8)
        values = physical.fill_null(0).to_numpy()
        if values.dtype.kind == "f":
            values = values.copy()
            values[np.isnan(values)] = np.nan
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        text = series.cast(pl.String).fill_null("")
        encoded = [value.encode("utf-8") for value in text.to_list()]
        lengths = np.array([len(b) for b in encoded], dtype="<u8").tobytes()
        return lengths + b"".join(encoded)
    return json.dumps(series.to_list(), sort_keys=True, default=str).encode()


def _check_name(name: str) -> str:
    if not _SAFE_NAME.match(name) or name == _INDEX_FILE:
        raise ValueError(
            f"table name {name!r} cannot be used as a file name; use letters, digits, _ . = -"
        )
    return name


def _plain(value: Any) -> Any:
    """Metadata made JSON-ready: numpy scalars and arrays, tuples; NaN becomes ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class TableResult(StageResult):
    """Named polars DataFrames (one parquet file each) plus a JSON dict of metadata.

    ``tables`` keys become file names (``<name>.parquet``), so they must be
    simple names (letters, digits, ``_ . = -``). ``meta`` must be JSON-serialisable
    (numpy scalars are converted; NaN becomes ``null``).
    """

    def __init__(
        self,
        tables: Mapping[str, pl.DataFrame] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.tables: dict[str, pl.DataFrame] = {
            _check_name(k): v for k, v in (tables or {}).items()
        }
        self.meta: dict[str, Any] = _plain(dict(meta or {}))

    @classmethod
    def from_parts(cls, tables: Mapping[str, pl.DataFrame], meta: Mapping[str, Any]) -> Self:
        """Build an instance of ``cls`` without calling its (possibly custom) ``__init__``."""
        obj = cls.__new__(cls)
        TableResult.__init__(obj, tables, meta)
        return obj

    def save(self, directory: Path) -> None:
        for name, frame in self.tables.items():
            frame.write_parquet(directory / f"{name}.parquet", compression="zstd")
        index = {"tables": list(self.tables), "meta": self.meta}
        (directory / _INDEX_FILE).write_text(
            json.dumps(index, indent=2, sort_keys=True), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        index = json.loads((directory / _INDEX_FILE).read_text(encoding="utf-8"))
        tables = {name: pl.read_parquet(directory / f"{name}.parquet") for name in index["tables"]}
        return cls.from_parts(tables, index["meta"])

    def fingerprint(self) -> str:
        """sha256 over the metadata's canonical JSON and :func:`frame_digest` of every
        table, in table-name order (the order tables were added does not matter)."""
        parts = {
            "meta": self.meta,
            "tables": {name: frame_digest(self.tables[name]) for name in sorted(self.tables)},
        }
        return hashlib.sha256(canonical_json(parts).encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TableResult):
            return NotImplemented
        return self.fingerprint() == other.fingerprint()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape}" for k, v in self.tables.items())
        return f"{type(self).__name__}({shapes}; meta keys {sorted(self.meta)})"

    def to_pandas(self) -> dict[str, Any]:
        """Every table as a pandas ``DataFrame`` (needs pandas installed), by name."""
        return {name: frame.to_pandas() for name, frame in self.tables.items()}

    def _repr_html_(self) -> str:
        """Notebook view: each table's first rows under its name."""
        parts = [f"<p><b>{html.escape(type(self).__name__)}</b></p>"]
        for name, frame in self.tables.items():
            parts.append(f"<p><code>{html.escape(name)}</code> {frame.height} rows</p>")
            parts.append(frame.head(20)._repr_html_())
        return "\n".join(parts)


class JsonResult(StageResult):
    """One JSON-serialisable dict, saved as ``result.json``.

    Fingerprint: sha256 of its canonical JSON (sorted keys, no whitespace).
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = _plain(dict(data or {}))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        """Build an instance of ``cls`` without calling its (possibly custom) ``__init__``."""
        obj = cls.__new__(cls)
        JsonResult.__init__(obj, data)
        return obj

    def save(self, directory: Path) -> None:
        (directory / _INDEX_FILE).write_text(
            json.dumps(self.data, indent=2, sort_keys=True), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        return cls.from_data(json.loads((directory / _INDEX_FILE).read_text(encoding="utf-8")))

    def fingerprint(self) -> str:
        return hashlib.sha256(canonical_json(self.data).encode()).hexdigest()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JsonResult):
            return NotImplemented
        return self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"

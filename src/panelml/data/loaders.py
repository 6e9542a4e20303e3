"""Load a Panel from files: one parquet file, a folder of parquet files (hive
partitions such as ``symbol=AAPL/`` or ``interval=5m/symbol=AAPL/`` become
columns), a glob, or CSV (a file, a folder or a glob of them).

Files are scanned lazily with Polars; the schema is read first, column roles are
resolved from it (:mod:`panelml.data.columns`), and only those columns are read.
Parquet is read a group of columns at a time (keys first, then features and
targets in groups; :mod:`panelml.data.frames`), so the whole frame is never in
memory next to the Panel; data in many files is read in fewer, larger groups, as
each group read opens every file again. CSV is parsed once in full (one parse per column group
would re-read the whole text each time), and its columns are released group by
group as the Panel is filled.
Hive partition columns other than the symbol and timestamp are never default
features (they are constant per file); name them in ``data.features`` to use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from panelml.data.columns import is_glob, plan_columns
from panelml.data.errors import DataError
from panelml.data.frames import (
    FrameColumns,
    ReadColumns,
    build_panel,
    group_count,
    panel_from_frame,
)
from panelml.data.panel import Panel
from panelml.data.sniff import check_single_column, check_text_files, mixed_offset_warnings
from panelml.data.spec import DataConfig

__all__ = ["Source", "load_panel", "panel_from_frame", "resolve_source", "scan_source"]

Format = Literal["parquet", "csv"]
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq", ".parq"})
_CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})


@dataclass(frozen=True)
class Source:
    """Where the data is: what to scan, in which format, and which hive keys it has."""

    display: str
    kind: Literal["file", "folder", "glob"]
    format: Format
    scan: str | list[str]
    files: tuple[Path, ...]
    partition_columns: frozenset[str]
    separator: str = ","


def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts if path.is_relative_to(root) else path.parts
    return not any(p.startswith((".", "_")) for p in parts)


def _partition_keys(files: tuple[Path, ...], root: Path) -> frozenset[str]:
    keys: set[str] = set()
    for path in files:
        relative = path.relative_to(root) if path.is_relative_to(root) else path
        keys.update(p.split("=", 1)[0] for p in relative.parts[:-1] if "=" in p)
    return frozenset(keys)


def _format_of(files: tuple[Path, ...], chosen: str) -> Format | None:
    if chosen in ("parquet", "csv"):
        return "csv" if chosen == "csv" else "parquet"
    if files and all(f.suffix.lower() in _CSV_SUFFIXES for f in files):
        return "csv"
    if any(f.suffix.lower() in _PARQUET_SUFFIXES for f in files):
        return "parquet"
    return None


def _split_glob(pattern: Path) -> tuple[Path, str]:
    """The folder part of ``pattern`` before its first wildcard, and the rest."""
    parts = pattern.parts
    first_wild = next(i for i, part in enumerate(parts) if is_glob(part))
    root = Path(*parts[:first_wild]) if first_wild else Path()
    return root, str(Path(*parts[first_wild:]))


def resolve_source(cfg: DataConfig, base_dir: Path | None = None, *, key: str = "") -> Source:
    """Find the files ``cfg.path`` names (relative paths are resolved against ``base_dir``).

    ``key`` is how the user gave the path, for messages (default ``data.path``;
    ``panelml predict`` passes ``--data``).
    """
    raw = Path(cfg.path).expanduser()
    path = raw if raw.is_absolute() or base_dir is None else Path(base_dir) / raw
    setting = key or "data.path"
    where = f"{setting} {cfg.path!r}" + (f" resolved against {base_dir}" if base_dir else "")
    if is_glob(str(path)):
        root, pattern = _split_glob(path)
        files = tuple(p for p in sorted(root.glob(pattern)) if p.is_file())
        files = tuple(f for f in files if _visible(f, root))
        fmt = _format_of(files, cfg.format)
        if not files or fmt is None:
            what = "no files" if not files else "no parquet or CSV files"
            raise DataError(
                f"{what} match the glob {path} ({where}): fix {setting} so it matches your "
                "data files"
            )
        keys = _partition_keys(files, root)
        if fmt == "parquet" and cfg.format == "auto":
            files = tuple(f for f in files if f.suffix.lower() in _PARQUET_SUFFIXES)
        elif fmt == "csv":
            files = tuple(f for f in files if f.suffix.lower() in _CSV_SUFFIXES) or files
        # A parquet glob is handed to polars as written so hive keys are read relative
        # to its fixed prefix; CSV is read from the file list.
        scan: str | list[str] = str(path) if fmt == "parquet" else [str(f) for f in files]
        return Source(str(path), "glob", fmt, scan, files, keys, _separator(files))
    if path.is_dir():
        files = tuple(p for p in sorted(path.rglob("*")) if p.is_file() and _visible(p, path))
        fmt = _format_of(files, cfg.format)
        if fmt == "csv":
            files = tuple(f for f in files if f.suffix.lower() in _CSV_SUFFIXES)
        elif fmt == "parquet" and cfg.format == "auto":
            files = tuple(f for f in files if f.suffix.lower() in _PARQUET_SUFFIXES)
        if not files or fmt is None:
            raise DataError(
                f"the folder {path} ({where}) holds no parquet or CSV files: put the data "
                f"files there or point {setting} at them"
            )
        keys = _partition_keys(files, path)
        scan = str(path) if fmt == "parquet" else [str(f) for f in files]
        return Source(str(path), "folder", fmt, scan, files, keys, _separator(files))
    if not path.exists():
        relative = (
            "which is relative to the config file's folder unless absolute"
            if base_dir is not None
            else "which is relative to the working directory unless absolute"
        )
        raise DataError(f"the data file {path} does not exist ({where}): fix {setting}, {relative}")
    fmt = _format_of((path,), cfg.format) or "parquet"
    return Source(str(path), "file", fmt, str(path), (path,), frozenset(), _separator((path,)))


def _separator(files: tuple[Path, ...]) -> str:
    return "\t" if files and all(f.suffix.lower() == ".tsv" for f in files) else ","


def scan_source(source: Source, setting: str = "data.path") -> pl.LazyFrame:
    """A lazy scan of ``source``; a CSV choice for a binary (parquet) file is refused
    up front with a message (polars would read its bytes as column names)."""
    if source.format == "csv":
        check_text_files(source, setting)
    return _scan(source)


def _scan(source: Source) -> pl.LazyFrame:
    if source.format == "csv":
        return pl.scan_csv(
            source.scan,
            separator=source.separator,
            try_parse_dates=True,
            infer_schema_length=10_000,
        )
    return pl.scan_parquet(source.scan, hive_partitioning=bool(source.partition_columns))


def _unreadable(source: Source, error: Exception) -> DataError:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    other = "csv" if source.format == "parquet" else "parquet"
    return DataError(
        f"cannot read {source.display} as {source.format} ({detail}): check that the file(s) "
        f"are valid {source.format} with one schema, or set data.format to {other!r} if that "
        "is what they are"
    )


def load_panel(cfg: DataConfig, base_dir: Path | None = None) -> Panel:
    """Load the long-format panel that ``cfg`` describes (one row per symbol and timestamp).

    Relative ``cfg.path`` values are resolved against ``base_dir`` (the config
    file's folder). Reads only the symbol, timestamp, target and feature columns.
    Raises :class:`panelml.data.DataError` for every problem with the files or values.
    """
    source = resolve_source(cfg, base_dir)
    try:
        lazy = scan_source(source)
        schema = lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _unreadable(source, error) from error
    check_single_column(source, schema, "data")
    plan = plan_columns(
        dict(schema), cfg, source=source.display, partition_columns=source.partition_columns
    )
    extra = mixed_offset_warnings(source, lazy, schema, cfg.timestamp_column)
    read = _column_reader(source, lazy, plan.columns)
    groups = group_count(len(source.files)) if source.format == "parquet" else None
    return build_panel(read, plan, cfg, source=source.display, warnings=extra, groups=groups)


def _column_reader(source: Source, lazy: pl.LazyFrame, columns: Sequence[str]) -> ReadColumns:
    """Reads groups of ``columns`` from ``lazy`` with file errors as DataErrors:
    parquet by a projected scan per group, CSV from one full parse (module doc)."""
    if source.format == "csv":
        try:
            frame = lazy.select(columns).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise _unreadable(source, error) from error
        return FrameColumns(frame, consume=True)

    def read(names: Sequence[str]) -> pl.DataFrame:
        try:
            return lazy.select(names).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise _unreadable(source, error) from error

    return read

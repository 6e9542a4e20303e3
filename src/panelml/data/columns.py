"""Which columns are the symbol, the timestamp, the targets and the features.

Decided from the schema alone, before any data is read, so loaders can project
only these columns. Rules:

* targets: columns matching any ``data.targets`` name or glob, minus
  ``data.exclude``; every target must be numeric (or boolean);
* features: with ``data.features`` unset, every numeric (or boolean) column that
  is not the symbol, the timestamp, a target, an excluded column or a hive
  partition column; with ``data.features`` set, the columns it names or matches,
  minus targets and ``data.exclude``. Explicitly named features must exist and be
  numeric; non-numeric columns matched only by a glob are skipped with a warning;
* the order of targets and features is the column order of the data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

import polars as pl

from panelml.data.errors import DataError, did_you_mean, preview
from panelml.data.spec import DataConfig

_GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` uses fnmatch wildcards rather than naming one column."""
    return any(c in _GLOB_CHARS for c in pattern)


def matches_any(name: str, patterns: Collection[str]) -> bool:
    """True when ``name`` equals or fnmatch-matches one of ``patterns`` (case-sensitive)."""
    return any(name == p or fnmatchcase(name, p) for p in patterns)


def is_numeric(dtype: pl.DataType) -> bool:
    """Numeric or boolean columns can be features or targets."""
    return dtype.is_numeric() or dtype == pl.Boolean


@dataclass(frozen=True)
class ColumnPlan:
    """The resolved column roles; ``columns`` is what a loader must read."""

    symbol: str
    timestamp: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.symbol, self.timestamp, *self.features, *self.targets)


def _key_column(kind: str, setting: str, name: str, names: list[str], source: str) -> None:
    if name not in names:
        raise DataError(
            f"the {kind} column {name!r} (data.{setting}) is not in {source}"
            f"{did_you_mean(name, names)}; available columns: {preview(names)}: set "
            f"data.{setting} to the column that holds each row's {kind}"
        )


_UNSAFE_CHARS = frozenset('/\\<>:"|?*')


def check_target_name(name: str, source: str) -> None:
    """A :class:`DataError` for a target name that cannot be a file or folder name
    (results and models are saved under the target's name)."""
    bad = sorted({c for c in name if c in _UNSAFE_CHARS or c.isspace() or not c.isprintable()})
    if bad or name in ("", ".", "..") or name.startswith("."):
        shown = " ".join(repr(c) for c in bad) or "a leading '.'"
        raise DataError(
            f"target column {name!r} in {source} has a name that cannot be used as a file name "
            f"({shown}): rename the column using letters, digits, '_', '-' or '.'"
        )


def plan_columns(
    schema: Mapping[str, pl.DataType],
    cfg: DataConfig,
    *,
    source: str,
    partition_columns: Collection[str] = (),
) -> ColumnPlan:
    """Resolve column roles from ``schema`` according to ``cfg`` (see module docstring)."""
    names = list(schema)
    _key_column("symbol", "symbol_column", cfg.symbol_column, names, source)
    _key_column("timestamp", "timestamp_column", cfg.timestamp_column, names, source)
    if cfg.symbol_column == cfg.timestamp_column:
        raise DataError(
            f"data.symbol_column and data.timestamp_column both name {cfg.symbol_column!r}: "
            "point them at two different columns"
        )
    keys = {cfg.symbol_column, cfg.timestamp_column}
    candidates = [n for n in names if n not in keys]
    excluded = {n for n in candidates if matches_any(n, cfg.exclude)}

    for pattern in cfg.targets:
        if not is_glob(pattern) and pattern not in schema:
            raise DataError(
                f"target {pattern!r} named in data.targets is not a column of {source}"
                f"{did_you_mean(pattern, candidates)}: fix the name or use a glob pattern"
            )
    targets = [n for n in candidates if n not in excluded and matches_any(n, cfg.targets)]
    if not targets:
        raise DataError(
            f"no column of {source} matches data.targets {cfg.targets} (after data.exclude); "
            f"available columns: {preview(candidates)}: set data.targets to target names or "
            "glob patterns such as 'fwd_*'"
        )
    for name in targets:
        check_target_name(name, source)
        if not is_numeric(schema[name]):
            raise DataError(
                f"target column {name!r} in {source} has type {schema[name]}, not numbers: "
                "convert it to numbers (0/1 for a binary target) or add it to data.exclude"
            )

    target_set = set(targets)
    warnings: list[str] = []
    if cfg.features is None:
        skip = target_set | excluded | set(partition_columns)
        features = [n for n in candidates if n not in skip and is_numeric(schema[n])]
        other = [n for n in candidates if n not in skip and not is_numeric(schema[n])]
        if other:
            kinds = ", ".join(f"{n!r} ({schema[n]})" for n in other[:6])
            more = f" and {len(other) - 6} more" if len(other) > 6 else ""
            warnings.append(
                f"{len(other)} column(s) are not numbers and were not used as "
                f"features: {kinds}{more}; encode them as numbers or list them in data.exclude"
            )
    else:
        for pattern in cfg.features:
            if is_glob(pattern):
                continue
            if pattern not in schema:
                raise DataError(
                    f"feature {pattern!r} named in data.features is not a column of {source}"
                    f"{did_you_mean(pattern, candidates)}: fix the name or remove it"
                )
            if pattern in keys or pattern in target_set:
                role = "a target" if pattern in target_set else "the symbol or timestamp column"
                raise DataError(
                    f"feature {pattern!r} named in data.features is {role} in {source}: "
                    "remove it from data.features (a target must never be a feature)"
                )
            if not is_numeric(schema[pattern]):
                raise DataError(
                    f"feature {pattern!r} named in data.features has type {schema[pattern]} in "
                    f"{source}, not numbers: encode it as numbers or remove it from data.features"
                )
        features = []
        for n in candidates:
            if n in target_set or n in excluded or not matches_any(n, cfg.features):
                continue
            if not is_numeric(schema[n]):
                warnings.append(
                    f"column {n!r} matches data.features but has type {schema[n]}; skipped"
                )
                continue
            features.append(n)
    if not features:
        asked = (
            "every numeric column other than symbol, timestamp, targets and data.exclude"
            if cfg.features is None
            else f"data.features {cfg.features}"
        )
        raise DataError(
            f"no feature columns are left in {source}: {asked} leaves none (targets: "
            f"{preview(targets)}; available columns: {preview(candidates)}): add numeric "
            "feature columns, or fix data.features / data.exclude / data.targets"
        )
    return ColumnPlan(
        symbol=cfg.symbol_column,
        timestamp=cfg.timestamp_column,
        targets=tuple(targets),
        features=tuple(features),
        warnings=tuple(warnings),
    )

"""One schema per built-in result table, and the checker results use.

The column contract is the one ``docs/architecture.md`` ("Built-in stage
results") documents. A schema lists the *required* columns with their dtype
class; a table may carry more columns (stages add them, for example the
ranking's per-family ``<family>_ic``). Dtypes are compared by class (any
integer width for an integer column, any float width for a float column,
String or Categorical for text), so a third-party stage that writes Int32 ranks
still conforms.

:func:`table_problems` and :func:`result_problems` return problem strings (empty
when the tables conform); ``StageResult.contract_problems`` of the built-in
results is one call to :func:`result_problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from panelml.contracts import kinds
from panelml.contracts.readers import feature_choice_targets, oof_table_names

DtypeClass = Literal["int", "float", "str", "bool", "any"]
_CLASSES: tuple[DtypeClass, ...] = ("int", "float", "str", "bool", "any")


@dataclass(frozen=True)
class TableSchema:
    """The required columns of one result table, each with its dtype class."""

    name: str
    columns: Mapping[str, DtypeClass]
    description: str = ""


def dtype_class(dtype: pl.DataType) -> DtypeClass:
    """The class of a polars dtype, as schemas compare it (``any`` for the rest)."""
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "str"
    if dtype == pl.Boolean:
        return "bool"
    return "any"


def _fits(actual: pl.DataType, wanted: DtypeClass) -> bool:
    if wanted == "any":
        return True
    got = dtype_class(actual)
    # an all-null column (an empty table written without a schema) fits any class
    return got == wanted or actual == pl.Null or (wanted == "float" and got == "int")


def table(name: str, columns: str, description: str) -> TableSchema:
    """A schema from its table name, its required columns as ``"column:class ..."``
    (classes: int, float, str, bool, any) and what the table holds."""
    parsed: dict[str, DtypeClass] = {}
    for item in columns.split():
        column, _, wanted = item.partition(":")
        if wanted not in _CLASSES:
            raise ValueError(f"schema {name!r}: column {column!r} has no dtype class {wanted!r}")
        parsed[column] = wanted
    return TableSchema(name, parsed, description)


LEAKAGE_REPORT = table(
    "report",
    "feature:str target:str check:str grade:str value:float threshold:float action:str"
    " evidence:str",
    "leakage_screen: one row per finding; action 'removed' excludes the feature",
)
TARGET_CHOICE_RANKING = table(
    "ranking",
    "target:str rank:int status:str",
    "a target choice: status 'selected' chooses the target, best rank first",
)
RANKING = table(
    "ranking",
    "target:str rank:int score:float status:str reason:str",
    "target_ranking: one row per target; status 'selected' chooses it",
)
PER_SYMBOL = table(
    "per_symbol",
    "target:str symbol:str ic:float n_obs:int",
    "target_ranking: the IC of each target per symbol",
)
IC_SERIES = table(
    "ic_series",
    "target:str timestamp:int ic:float",
    "target_ranking: the consensus IC per timestamp",
)
FEATURE_SELECTION = table(
    "<target>",
    "feature:str rank:int selected:bool",
    "feature_selection: one table per target, named after it",
)
TRAINING_METRICS = table(
    "metrics",
    "target:str family:str fold:int ic_mean:float",
    "training: one row per (target, family, fold); fold -1 is the OOF summary",
)
OOF = table(
    "oof_<target>",
    "symbol:str timestamp:any target:float ensemble:float",
    "training: out-of-fold predictions of one target",
)
IMPORTANCES = table(
    "importances",
    "target:str family:str feature:str importance:float rank:int",
    "training: feature importances of the final models",
)
STABILITY = table(
    "report",
    "target:str method:str n_runs:int status:str",
    "stability: one row per (target, method) over the experiment's runs",
)
STABILITY_FREQUENCY = table(
    "frequency",
    "target:str method:str feature:str selection_frequency:float",
    "stability: how often each feature was selected over the runs",
)

FIXED_TABLES: Mapping[str, tuple[TableSchema, ...]] = {
    kinds.TARGET_CHOICE: (TARGET_CHOICE_RANKING,),
    kinds.RANKING_SCORES: (RANKING, PER_SYMBOL, IC_SERIES),
    kinds.EXCLUSIONS: (LEAKAGE_REPORT,),
    kinds.TRAINING_METRICS: (TRAINING_METRICS,),
    kinds.TRAINED_MODELS: (IMPORTANCES,),
    kinds.STABILITY_REPORT: (STABILITY, STABILITY_FREQUENCY),
}
"""The tables with fixed names each kind needs (per-target tables: see below)."""


def table_problems(frame: pl.DataFrame, schema: TableSchema, name: str | None = None) -> list[str]:
    """Ways ``frame`` breaks ``schema``: missing columns and columns of the wrong class."""
    label = name or schema.name
    problems: list[str] = []
    for column, wanted in schema.columns.items():
        if column not in frame.columns:
            problems.append(f"table {label!r} has no column {column!r}")
        elif not _fits(frame.schema[column], wanted):
            problems.append(
                f"table {label!r} column {column!r} is {frame.schema[column]}, "
                f"not a {wanted} column"
            )
    return problems


def _tables(result: object) -> Mapping[str, pl.DataFrame] | None:
    tables = getattr(result, "tables", None)
    return tables if isinstance(tables, Mapping) else None


def _meta(result: object) -> Mapping[str, object]:
    meta = getattr(result, "meta", None)
    return meta if isinstance(meta, Mapping) else {}


def result_problems(result: object, provides: tuple[str, ...]) -> list[str]:
    """Ways ``result`` breaks the contracts of the kinds in ``provides`` (empty: conforms).

    Reads only ``result.tables`` and ``result.meta``, so any
    :class:`~panelml.pipeline.results.TableResult` can be checked.
    """
    tables = _tables(result)
    if tables is None:
        return [f"{type(result).__name__} has no named tables (provides {list(provides)})"]
    problems: list[str] = []
    for kind in provides:
        for schema in FIXED_TABLES.get(kind, ()):
            if schema.name not in tables:
                problems.append(f"{kind}: no table {schema.name!r}")
            else:
                problems.extend(table_problems(tables[schema.name], schema))
        if kind == kinds.FEATURE_CHOICE:
            for target in feature_choice_targets(result):
                if target not in tables:
                    problems.append(f"{kind}: no table for target {target!r}")
                else:
                    problems.extend(table_problems(tables[target], FEATURE_SELECTION, target))
        if kind == kinds.OOF_PREDICTIONS:
            for target, name in oof_table_names(result).items():
                if name not in tables:
                    problems.append(f"{kind}: no OOF table {name!r} for target {target!r}")
                else:
                    problems.extend(table_problems(tables[name], OOF))
    return list(dict.fromkeys(problems))

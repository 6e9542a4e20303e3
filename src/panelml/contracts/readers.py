"""One reader per question a stage, the report or a command asks of a result.

Every reader takes any result whose tables follow the documented contract
(:mod:`panelml.contracts.schemas`): it reads ``result.tables`` and
``result.meta`` only, never a stage class, so a third-party stage that writes
the same tables plugs in unchanged. ``None`` (the input was optional and no
stage provided it) reads as "nothing": no targets, no exclusions.

A result that lacks a documented table or column is a bug in the stage that made
it, reported as :class:`ContractReadError` (a traceback, not a user error); the
runner normally catches it earlier through ``contract_problems()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from panelml.pipeline.results import TableResult

__all__ = [
    "ContractReadError",
    "excluded_features",
    "exclusion_checks",
    "feature_choice_targets",
    "findings",
    "load_tables",
    "oof",
    "oof_table_names",
    "ranking_scores",
    "selected_features",
    "selected_targets",
    "summary_metrics",
    "targets_selected_in",
]


class ContractReadError(LookupError):
    """A result read for a contract lacks a table or a column the contract documents."""


def _tables(result: object) -> Mapping[str, pl.DataFrame]:
    tables = getattr(result, "tables", None)
    if not isinstance(tables, Mapping):
        raise ContractReadError(f"{type(result).__name__} has no named tables to read")
    return tables


def _meta(result: object) -> Mapping[str, Any]:
    meta = getattr(result, "meta", None)
    return meta if isinstance(meta, Mapping) else {}


def _table(result: object, name: str, columns: tuple[str, ...]) -> pl.DataFrame:
    tables = _tables(result)
    if name not in tables:
        raise ContractReadError(
            f"{type(result).__name__} has no table {name!r} (tables: {sorted(tables)})"
        )
    frame = tables[name]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractReadError(
            f"{type(result).__name__} table {name!r} has no column {missing[0]!r}"
        )
    return frame


# -- TargetChoice ------------------------------------------------------------------
def targets_selected_in(ranking: pl.DataFrame) -> list[str]:
    """The selection rule on a ranking table: status ``selected``, by rank then name."""
    chosen = ranking.filter(pl.col("status") == "selected")
    if "rank" in chosen.columns:
        chosen = chosen.sort(["rank", "target"], nulls_last=True)
    return [str(t) for t in chosen["target"].to_list()]


def selected_targets(result: object | None) -> list[str]:
    """The targets a ``TargetChoice`` result chose, best first (``[]`` for ``None``)."""
    if result is None:
        return []
    return targets_selected_in(_table(result, "ranking", ("target", "status")))


# -- RankingScores -----------------------------------------------------------------
RANKING_SCORE_COLUMNS = ("target", "score", "rank", "status")


def ranking_scores(result: object | None) -> pl.DataFrame:
    """target, score, rank, status of every ranked target, in the table's order.

    ``None`` gives an empty frame with those columns.
    """
    schema = {"target": pl.String, "score": pl.Float64, "rank": pl.Int64, "status": pl.String}
    if result is None:
        return pl.DataFrame(schema=schema)
    frame = _table(result, "ranking", ("target", "score"))
    return frame.select(
        pl.col("target").cast(pl.String),
        pl.col("score").cast(pl.Float64),
        pl.col("rank").cast(pl.Int64) if "rank" in frame.columns else pl.lit(None, pl.Int64),
        pl.col("status").cast(pl.String)
        if "status" in frame.columns
        else pl.lit(None, pl.String).alias("status"),
    )


# -- Exclusions --------------------------------------------------------------------
def findings(result: object | None, target: str) -> pl.DataFrame:
    """An ``Exclusions`` result's rows for ``target`` (feature, check, action, ...).

    Rows with action ``removed`` exclude the feature; ``warned`` rows are
    suspicions the feature stays in use with. Empty for ``None``.
    """
    if result is None:
        return pl.DataFrame(schema={"feature": pl.String, "check": pl.String, "action": pl.String})
    report = _table(result, "report", ("feature", "target", "check", "action"))
    return report.filter(pl.col("target") == target)


def excluded_features(result: object | None, target: str) -> set[str]:
    """Features an ``Exclusions`` result removed for ``target`` (empty for ``None``)."""
    if result is None:
        return set()
    rows = findings(result, target).filter(pl.col("action") == "removed")
    return {str(f) for f in rows["feature"].to_list()}


def exclusion_checks(result: object | None, target: str) -> dict[str, list[str]]:
    """feature -> every check that flagged it for ``target`` (table order), for the
    features removed for ``target`` (a removed feature may also carry warnings)."""
    if result is None:
        return {}
    rows = findings(result, target)
    removed = set(rows.filter(pl.col("action") == "removed")["feature"].to_list())
    out: dict[str, list[str]] = {}
    for feature, check in zip(rows["feature"].to_list(), rows["check"].to_list(), strict=True):
        if feature in removed:
            out.setdefault(str(feature), []).append(str(check))
    return out


# -- FeatureChoice -----------------------------------------------------------------
def feature_choice_targets(result: object | None) -> list[str]:
    """The targets a ``FeatureChoice`` result holds a selection for, in its order.

    Meta ``targets`` when present, else every table name.
    """
    if result is None:
        return []
    listed = _meta(result).get("targets")
    if isinstance(listed, list | tuple):
        return [str(t) for t in listed]
    return [str(t) for t in _tables(result)]


def selected_features(result: object | None, target: str) -> list[str]:
    """The features a ``FeatureChoice`` result selected for ``target``, best first."""
    if result is None:
        return []
    frame = _table(result, target, ("feature", "selected"))
    chosen = frame.filter(pl.col("selected"))
    if "rank" in chosen.columns:
        chosen = chosen.sort(["rank", "feature"])
    return [str(f) for f in chosen["feature"].to_list()]


# -- OOFPredictions / TrainingMetrics ----------------------------------------------
def oof_table_names(result: object | None) -> dict[str, str]:
    """target -> the name of its OOF table (meta ``oof_tables``, else ``oof_<target>``)."""
    if result is None:
        return {}
    named = _meta(result).get("oof_tables")
    if isinstance(named, Mapping):
        return {str(k): str(v) for k, v in named.items()}
    return {name[4:]: name for name in _tables(result) if name.startswith("oof_")}


def oof(result: object, target: str) -> pl.DataFrame:
    """The out-of-fold predictions of ``target``: symbol, timestamp, target, families,
    ensemble."""
    names = oof_table_names(result)
    if target not in names:
        raise ContractReadError(
            f"{type(result).__name__} has no OOF table for target {target!r}; "
            f"it has {sorted(names)}"
        )
    return _table(result, names[target], ("symbol", "timestamp"))


def summary_metrics(result: object | None) -> pl.DataFrame | None:
    """The ``fold == -1`` rows of a ``TrainingMetrics`` result's ``metrics`` table."""
    if result is None:
        return None
    frame = _table(result, "metrics", ("target", "family", "fold"))
    return frame.filter(pl.col("fold") == -1)


# -- results saved in a run folder -------------------------------------------------
def load_tables(folder: Path) -> TableResult | None:
    """A saved stage folder (``result.json`` + parquet tables) as a readable result.

    ``None`` when the folder holds no readable result (not run, or written by an
    incompatible version); readers then see "nothing".
    """
    index_path = folder / "result.json"
    if not index_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        names = [str(n) for n in index.get("tables", [])]
        tables = {n: pl.read_parquet(folder / f"{n}.parquet") for n in names}
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    meta = index.get("meta")
    return TableResult.from_parts(tables, meta if isinstance(meta, dict) else {})

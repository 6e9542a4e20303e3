"""Every table of a run folder in one object, for notebooks and scripts.

::

    run = panelml.open_run("runs/demo/20240101-120000-abc123")
    run.ranking                       # target_ranking's ranking table (polars)
    run["training"]["metrics"]        # any stage's table by name
    frames = run.to_pandas()          # {stage: {table: pandas.DataFrame}}

The record (manifest and config) comes from :func:`panelml.pipeline.run_folder.open_run`
and each stage's saved tables from :func:`panelml.contracts.load_tables`, so a
third-party stage that saves a ``TableResult`` shows up like a built-in one.
Stages whose result holds no tables (a JSON result, the report) are left out.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from panelml.contracts import load_tables
from panelml.pipeline.run_folder import RunFolder
from panelml.pipeline.run_folder import open_run as open_record

__all__ = ["RunTables", "open_run", "tables_html"]


@dataclass(frozen=True, eq=False)
class RunTables(Mapping[str, dict[str, pl.DataFrame]]):
    """A run folder's record and its stages' tables (a mapping stage -> tables)."""

    record: RunFolder
    tables: dict[str, dict[str, pl.DataFrame]]

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def experiment(self) -> str:
        return self.record.experiment

    @property
    def status(self) -> str:
        return str(self.record.manifest.get("status") or "unknown")

    @property
    def manifest(self) -> dict[str, Any]:
        return self.record.manifest

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def ranking(self) -> pl.DataFrame | None:
        """The target ranking table, or ``None`` when the run has none."""
        return self.tables.get("target_ranking", {}).get("ranking")

    def __getitem__(self, stage: str) -> dict[str, pl.DataFrame]:
        if stage not in self.tables:
            raise KeyError(
                f"run {self.run_id} has no tables of stage {stage!r}; it has {sorted(self.tables)}"
            )
        return self.tables[stage]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def table(self, stage: str, name: str) -> pl.DataFrame:
        """One table of one stage (a ``KeyError`` naming what exists otherwise)."""
        tables = self[stage]
        if name not in tables:
            raise KeyError(
                f"stage {stage!r} of run {self.run_id} has no table {name!r}; "
                f"it has {sorted(tables)}"
            )
        return tables[name]

    def to_pandas(self) -> dict[str, dict[str, Any]]:
        """Every table as a pandas ``DataFrame``: ``{stage: {table: frame}}``."""
        return {
            stage: {name: frame.to_pandas() for name, frame in tables.items()}
            for stage, tables in self.tables.items()
        }

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>panelml run</b> {html.escape(self.experiment)}/{html.escape(self.run_id)}"
            f" ({html.escape(self.status)})</p>"
        )
        return head + tables_html(self.tables, self.ranking)

    def __repr__(self) -> str:
        listed = ", ".join(f"{s}: {sorted(t)}" for s, t in self.tables.items())
        return f"RunTables({self.path}; {self.status}; {listed})"


def open_run(path: str | Path) -> RunTables:
    """Every table of the run in ``path`` (see the module docstring).

    A folder that is not a run folder is a :class:`~panelml.pipeline.run_folder.RunFolderError`.
    """
    record = open_record(path)
    names = [str(row.get("name")) for row in record.manifest.get("stages") or ()]
    extra = sorted(p.name for p in record.path.iterdir() if p.is_dir() and p.name not in names)
    tables: dict[str, dict[str, pl.DataFrame]] = {}
    for stage in [*names, *extra]:
        result = load_tables(record.path / stage)
        if result is not None and result.tables:
            tables[stage] = dict(result.tables)
    return RunTables(record, tables)


def tables_html(tables: Mapping[str, Mapping[str, pl.DataFrame]], ranking: Any = None) -> str:
    """A notebook view of stage tables: the ranking first (when given), then one line
    per table with its shape."""
    parts = []
    if isinstance(ranking, pl.DataFrame):
        parts.append("<p>target ranking</p>" + ranking.head(30)._repr_html_())
    rows = "".join(
        f"<tr><td>{html.escape(stage)}</td><td>{html.escape(name)}</td>"
        f"<td>{frame.height}</td><td>{frame.width}</td></tr>"
        for stage, named in tables.items()
        for name, frame in named.items()
    )
    parts.append(
        "<table><thead><tr><th>stage</th><th>table</th><th>rows</th><th>columns</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )
    return "\n".join(parts)

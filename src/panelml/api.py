"""The Python API: run an experiment, load a config, build a panel from a table.

``panelml.run("experiment.yaml")`` does what ``panelml run experiment.yaml``
does, and returns the run folder, the manifest and every stage's result.

Tables may be polars, pandas or pyarrow (:mod:`panelml.data.tables`); configs
may be a YAML path, a dict with the YAML's layout, or an :class:`ExperimentConfig`::

    result = panelml.run({"experiment": {"name": "nb"}, "data": {"targets": ["fwd_*"]}},
                         data=pandas_frame)
    result.to_pandas()["target_ranking"]["ranking"]
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panelml.config import (
    ExperimentConfig,
    ResolvedExperiment,
    apply_overrides,
    read_config,
    resolve_experiment,
    validate_config,
)
from panelml.config import load_config as _load_config
from panelml.pipeline.cache import StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import ConfigError, UserError
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import executor_for_runtime
from panelml.pipeline.hugepages import numpy_hugepages
from panelml.pipeline.manifest import check_run_id
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.runner import MANIFEST, Pipeline, new_run_id
from panelml.pipeline.runner import RunResult as PipelineRunResult
from panelml.pipeline.suggest import did_you_mean
from panelml.preflight import check_config, check_panel, print_data_warnings

__all__ = ["IN_MEMORY_PATH", "RunResult", "load_config", "panel_from_frame", "run"]

IN_MEMORY_PATH = "(in-memory data)"
"""``data.path`` of a dict config run with ``data=`` that names no file."""


@dataclass
class RunResult(PipelineRunResult):
    """The outcome of a run: its folder, manifest and every stage's result, with the
    tables at hand for notebooks (``tables()``, ``to_pandas()``, an HTML view)."""

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every stage result's polars tables: ``{stage: {table: frame}}``."""
        out: dict[str, dict[str, Any]] = {}
        for name, result in self.results.items():
            tables = getattr(result, "tables", None)
            if isinstance(tables, Mapping) and tables:
                out[name] = dict(tables)
        return out

    @property
    def ranking(self) -> Any:
        """The target ranking table (polars), or ``None`` when the run has none."""
        return self.tables().get("target_ranking", {}).get("ranking")

    def to_pandas(self) -> dict[str, dict[str, Any]]:
        """Every stage result's tables as pandas frames: ``{stage: {table: frame}}``."""
        return {
            stage: {name: frame.to_pandas() for name, frame in tables.items()}
            for stage, tables in self.tables().items()
        }

    def _repr_html_(self) -> str:
        from panelml.run_tables import tables_html

        status = str(self.manifest.get("status"))
        head = (
            f"<p><b>panelml run</b> {html.escape(str(self.manifest.get('experiment')))}/"
            f"{html.escape(self.run_id)} ({html.escape(status)}), folder "
            f"<code>{html.escape(str(self.run_dir))}</code></p>"
        )
        return head + tables_html(self.tables(), self.ranking)


def load_config(
    path: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Load, override (``KEY.PATH=VALUE``), validate and resolve an experiment config:
    a YAML file, or a dict with the YAML's layout (relative paths then resolve against
    the working folder).

    Raises :class:`~panelml.pipeline.errors.ConfigError` with a message naming the
    file, the key, what was expected and what was found.
    """
    return _load_config(path, overrides)


def panel_from_frame(frame: Any, data: Any = None) -> Any:
    """A :class:`panelml.data.Panel` from a long-format table (one row per symbol and
    timestamp): polars, pandas (named index levels become columns) or pyarrow.

    ``data`` says which columns are what: a :class:`panelml.data.DataConfig`, an
    :class:`ExperimentConfig` (its ``data:``), a dict of ``data:`` keys, or ``None``
    for the defaults (``symbol``, ``timestamp``, targets ``fwd_*`` / ``y_*``). The
    columns are checked as ``panelml.data.load_panel`` checks a file's.
    """
    from panelml.data import DataConfig  # type: ignore[attr-defined,unused-ignore]
    from panelml.data.frames import panel_from_frame as build
    from panelml.data.tables import as_polars

    if isinstance(data, ExperimentConfig):
        data = data.data
    elif data is None or isinstance(data, Mapping):
        data = DataConfig.model_validate({"path": IN_MEMORY_PATH, **dict(data or {})})
    if not isinstance(data, DataConfig):
        raise UserError(
            f"data settings of type {type(data).__name__}: pass a DataConfig, an "
            "ExperimentConfig, a dict of data: keys, or None"
        )
    return build(as_polars(frame, what="frame"), data, source="the frame")


def run(
    config: str | Path | Mapping[str, Any] | ExperimentConfig,
    *,
    overrides: Sequence[str] = (),
    no_cache: bool = False,
    force: Collection[str] = (),
    quiet: bool = False,
    run_id: str | None = None,
    data: Any = None,
    events: EventBus | None = None,
    reporter: Reporter | None = None,
) -> RunResult:
    """Run an experiment and return its :class:`RunResult` (run folder, manifest, results).

    Args:
        config: a YAML path, a dict with the YAML's layout, or an :class:`ExperimentConfig`.
        overrides: ``KEY.PATH=VALUE`` strings applied before validation.
        no_cache: recompute every stage (fresh results still refresh the cache).
        force: stage names to recompute; later stages recompute only if their
            inputs' fingerprints change.
        quiet: print nothing on stdout; warnings go to stderr.
        run_id: the run folder name (default: a new sortable UTC id).
        data: the data to run on instead of ``config.data.path``: a polars, pandas or
            pyarrow table (its columns read as ``config.data`` says), or a
            :class:`panelml.data.Panel`. By default the panel is loaded from
            ``config.data`` with ``panelml.data.load_panel``. A dict config run with
            ``data=`` needs no ``data.path``.
        events: an event bus to subscribe to before the run (default: a new one).
        reporter: where progress goes (default: the terminal).

    A stage's exception propagates unchanged after the manifest is written.
    """
    if run_id is not None:
        check_run_id(run_id)
    if data is not None and isinstance(config, Mapping):
        config = _with_data_path(config)
    experiment = _prepare(config, overrides)
    cfg = experiment.config
    if reporter is None:
        reporter = _reporter(quiet, cfg.runtime.quiet)
    planned = experiment.planned()
    names = [p.name for p in planned]
    for name in force:
        if name not in names:
            raise ConfigError(
                f"--force {name!r}: not a stage of this pipeline{did_you_mean(name, names)}; "
                f"stages: {', '.join(names)}"
            )
    check_config(
        cfg, experiment.stages
    )  # families, their params, importance kinds, executor, stage inputs
    data = _load_data(cfg) if data is None else _as_panel(data, cfg)
    fingerprint = getattr(data, "fingerprint", None)
    if not isinstance(fingerprint, str):
        raise UserError(
            f"data= is a {type(data).__name__} without a string 'fingerprint'; pass a "
            "polars, pandas or pyarrow table, or a panelml.data.Panel"
        )
    check_panel(cfg, data)  # enough timestamps and symbols for the validation
    print_data_warnings(data)
    run_id = run_id or new_run_id()
    run_dir = cfg.resolve_path(cfg.runtime.output_dir) / cfg.experiment.name / run_id
    if (run_dir / MANIFEST).exists():
        raise UserError(f"run folder {run_dir} already exists; choose another --run-id")
    executor, threads = executor_for_runtime(cfg.runtime, reporter)
    ctx = RunContext(
        config=cfg,
        data=data,
        data_fingerprint=fingerprint,
        run_dir=run_dir,
        run_id=run_id,
        experiment=cfg.experiment.name,
        events=events or EventBus(),
        executor=executor,
        reporter=reporter,
        seed=cfg.runtime.seed,
        deterministic=cfg.runtime.deterministic,
        n_jobs=threads,
    )
    pipeline = Pipeline(
        planned, hooks=experiment.hooks, cache=StageCache(cfg.resolve_path(cfg.runtime.cache_dir))
    )
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    try:
        # the budget's library threads hold in this process too, numpy's BLAS
        # included: unlimited, BLAS takes every core, which breaks the budget
        # and makes float32 products (rank blocks, screens) depend on the
        # machine's core count instead of on the config; numpy's huge-page
        # advice as runtime.numpy_hugepages says (panelml.pipeline.hugepages)
        with threadpool_limits(limits=threads), numpy_hugepages(executor.numpy_hugepages):
            outcome = pipeline.run(
                ctx, force="all" if no_cache else tuple(force), config_snapshot=cfg.resolved_dict()
            )
    finally:
        executor.close()  # a local Ray the run started
    return RunResult(run_dir=outcome.run_dir, manifest=outcome.manifest, results=outcome.results)


def _reporter(quiet: bool, config_quiet: bool) -> Reporter:
    """The terminal reporter: on stdout normally; quiet, it prints only warnings, on
    stderr, unwrapped (stdout is kept for the run folder: ``RUN=$(panelml run -q x)``)."""
    if not quiet:
        return Reporter(quiet=config_quiet)
    from rich.console import Console

    return Reporter(Console(stderr=True, highlight=False, soft_wrap=True), quiet=True)


def _with_data_path(config: Mapping[str, Any]) -> dict[str, Any]:
    """A dict config run on ``data=`` needs no file: ``data.path`` defaults to a marker."""
    raw = dict(config)
    section = raw.get("data")
    if section is None:
        raw["data"] = {"path": IN_MEMORY_PATH}
    elif isinstance(section, Mapping) and "path" not in section:
        raw["data"] = {**section, "path": IN_MEMORY_PATH}
    return raw


def _as_panel(data: Any, cfg: ExperimentConfig) -> Any:
    """``data=`` as a Panel: a table is read with ``cfg.data``; a Panel passes as is."""
    from panelml.data.tables import is_table

    if is_table(data):
        return panel_from_frame(data, cfg.data)
    return data


def _prepare(
    config: str | Path | Mapping[str, Any] | ExperimentConfig, overrides: Sequence[str]
) -> ResolvedExperiment:
    """The config read, overridden, validated, then resolved once with its stages and hooks."""
    if not isinstance(config, ExperimentConfig):
        return resolve_experiment(read_config(config, overrides))
    if not overrides:
        return resolve_experiment(config)
    raw = {**config.model_dump(mode="json"), **config.stage_sections()}
    where = str(config.source) if config.source is not None else "config"
    updated = validate_config(
        apply_overrides(raw, overrides, where=where), base_dir=config.base_dir, source=config.source
    )
    return resolve_experiment(updated)


def _load_data(config: ExperimentConfig) -> Any:
    """Load the panel described by ``config.data`` (imported lazily: heavy)."""
    from panelml.data import load_panel  # type: ignore[attr-defined,unused-ignore]

    return load_panel(config.data, base_dir=config.base_dir)

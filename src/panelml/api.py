"""The Python API: run an experiment, load a config.

``panelml.run("experiment.yaml")`` does what ``panelml run experiment.yaml``
does, and returns the run folder, the manifest and every stage's result.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
from panelml.pipeline.executor import make_executor
from panelml.pipeline.manifest import check_run_id
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.runner import MANIFEST, Pipeline, RunResult, new_run_id
from panelml.pipeline.suggest import did_you_mean
from panelml.preflight import check_config, check_panel, print_data_warnings

__all__ = ["RunResult", "load_config", "run"]


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load, override (``KEY.PATH=VALUE``), validate and resolve an experiment YAML file.

    Raises :class:`~panelml.pipeline.errors.ConfigError` with a message naming the
    file, the key, what was expected and what was found.
    """
    return _load_config(path, overrides)


def run(
    config: str | Path | ExperimentConfig,
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
        config: a YAML path or an :class:`ExperimentConfig`.
        overrides: ``KEY.PATH=VALUE`` strings applied before validation.
        no_cache: recompute every stage (fresh results still refresh the cache).
        force: stage names to recompute; later stages recompute only if their
            inputs' fingerprints change.
        quiet: print only warnings.
        run_id: the run folder name (default: a new sortable UTC id).
        data: already loaded data with a ``fingerprint`` attribute; by default the
            panel is loaded from ``config.data`` with ``panelml.data.load_panel``.
        events: an event bus to subscribe to before the run (default: a new one).
        reporter: where progress goes (default: the terminal).

    A stage's exception propagates unchanged after the manifest is written.
    """
    if run_id is not None:
        check_run_id(run_id)
    experiment = _prepare(config, overrides)
    cfg = experiment.config
    reporter = reporter or Reporter(quiet=quiet or cfg.runtime.quiet)
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
    if data is None:
        data = _load_data(cfg)
    fingerprint = getattr(data, "fingerprint", None)
    if not isinstance(fingerprint, str):
        raise UserError(
            f"the data object {type(data).__name__} has no string 'fingerprint' attribute"
        )
    check_panel(cfg, data)  # enough timestamps and symbols for the validation
    print_data_warnings(data)
    run_id = run_id or new_run_id()
    run_dir = cfg.resolve_path(cfg.runtime.output_dir) / cfg.experiment.name / run_id
    if (run_dir / MANIFEST).exists():
        raise UserError(f"run folder {run_dir} already exists; choose another --run-id")
    ctx = RunContext(
        config=cfg,
        data=data,
        data_fingerprint=fingerprint,
        run_dir=run_dir,
        run_id=run_id,
        experiment=cfg.experiment.name,
        events=events or EventBus(),
        executor=make_executor(cfg.runtime.executor, cfg.runtime.n_jobs, reporter),
        reporter=reporter,
        seed=cfg.runtime.seed,
        deterministic=cfg.runtime.deterministic,
        n_jobs=cfg.runtime.n_jobs,
    )
    pipeline = Pipeline(
        planned, hooks=experiment.hooks, cache=StageCache(cfg.resolve_path(cfg.runtime.cache_dir))
    )
    return pipeline.run(
        ctx, force="all" if no_cache else tuple(force), config_snapshot=cfg.resolved_dict()
    )


def _prepare(config: str | Path | ExperimentConfig, overrides: Sequence[str]) -> ResolvedExperiment:
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

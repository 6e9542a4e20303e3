"""Checks that need no model fit, run before any stage (``panelml validate`` and the
start of every run), so a config or panel that cannot work fails in a second
with one message instead of minutes later after writing cache entries.

Config checks (:func:`check_config`):

* model families named in any enabled stage (``families``, ``family_params``
  keys, ``importances[].family``) exist, with a did-you-mean;
* each family's params are accepted by its library: a dry construction, one
  fit on a tiny fixed synthetic sample (:meth:`ModelFamily.check_params`),
  remembered per process;
* importance kinds exist for their family;
* the executor is available (``ray`` is installed when asked for).

Whether each stage's inputs are provided (a stage that takes its targets from an
earlier stage has one) is the pipeline's typed-input check
(:func:`panelml.pipeline.plan.check_order`), which ``validate`` and every run
call too.

Data checks (:func:`check_shape`, from :func:`check_data_source` in ``validate``
on the schema and the two key columns only, and from :func:`check_panel` on the
loaded panel in a run): the file exists and its columns are there; the panel
can support the configured validation: enough timestamps for ``n_splits``
after purging and embargo, enough symbols for a cross-sectional IC.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from panelml.config import ExperimentConfig, ResolvedStage, resolve_stages
from panelml.data.errors import DataError
from panelml.pipeline.errors import ConfigError, UserError

__all__ = [
    "check_config",
    "check_data_source",
    "check_panel",
    "check_shape",
    "print_data_warnings",
]

_UNIVARIATE = "univariate"
_PERMUTATION = "permutation"
_UNIVARIATE_KINDS = ("rank_ic", "partial_rank_ic")
_checked: dict[str, str | None] = {}


def _where(cfg: ExperimentConfig) -> str:
    return str(cfg.source) if cfg.source is not None else "config"


def check_config(cfg: ExperimentConfig, stages: Sequence[ResolvedStage] | None = None) -> None:
    """Every config check of the module docstring; the first problem is a ConfigError.

    ``stages``: ``cfg``'s stages when the caller has resolved them already.
    """
    where = _where(cfg)
    resolved = [r for r in (resolve_stages(cfg) if stages is None else stages) if r.enabled]
    for stage in resolved:
        params = stage.params
        _check_families(where, stage.name, params)
        _check_importances(where, stage.name, params, _univariate_kinds(stage.cls))
    if cfg.runtime.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"{where}: runtime.executor: 'ray' is not installed; install it (pip install ray) "
            "or use executor 'serial' or 'process'"
        )


def _family(where: str, key: str, name: str) -> Any:
    from panelml.models import get_family

    try:
        return get_family(name)
    except UserError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None


def _check_families(where: str, stage: str, params: Any) -> None:
    families = getattr(params, "families", None)
    family_params = getattr(params, "family_params", None) or {}
    names: list[str] = list(families) if isinstance(families, list | tuple) else []
    for index, name in enumerate(names):
        _family(where, f"{stage}.families[{index}]", str(name))
    if isinstance(family_params, Mapping):
        for name, values in family_params.items():
            key = f"{stage}.family_params.{name}"
            _check_params(where, key, _family(where, key, str(name)), values)
    for name in names:
        if name not in family_params:
            _check_params(where, f"{stage}.families", _family(where, stage, name), {})


def _check_params(where: str, key: str, cls: Any, params: Any) -> None:
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: {key}: expected a mapping of params, found {params!r}")
    token = json.dumps([cls.__module__, cls.__qualname__, params], sort_keys=True, default=str)
    if token not in _checked:
        try:
            cls.check_params("regression", dict(params))
            _checked[token] = None
        except ImportError as exc:
            _checked[token] = str(exc)
        except UserError as exc:
            _checked[token] = str(exc)
    problem = _checked[token]
    if problem is not None:
        raise ConfigError(f"{where}: {key}: {problem}")


def _univariate_kinds(cls: type[Any]) -> tuple[str, ...]:
    """The univariate importance kinds the stage's module declares (``UNIVARIATE_KINDS``),
    so a kind added there is accepted here without a second list; else the built-in ones."""
    declared = getattr(sys.modules.get(cls.__module__), "UNIVARIATE_KINDS", None)
    if isinstance(declared, tuple) and all(isinstance(k, str) for k in declared):
        return declared
    return _UNIVARIATE_KINDS


def _check_importances(
    where: str, stage: str, params: Any, univariate_kinds: tuple[str, ...] = _UNIVARIATE_KINDS
) -> None:
    for index, spec in enumerate(getattr(params, "importances", None) or ()):
        family, kind = str(getattr(spec, "family", "")), str(getattr(spec, "kind", ""))
        key = f"{stage}.importances[{index}]"
        if family == _UNIVARIATE:
            if kind not in univariate_kinds:
                raise ConfigError(
                    f"{where}: {key}.kind: family 'univariate' has kinds "
                    f"{', '.join(univariate_kinds)}, found {kind!r}"
                )
            continue
        cls = _family(where, f"{key}.family", family)
        kinds = [*cls.importance_kinds, _PERMUTATION]
        if kind not in kinds:
            from panelml.pipeline.suggest import did_you_mean

            raise ConfigError(
                f"{where}: {key}.kind: family {family!r} has no importance kind {kind!r}"
                f"{did_you_mean(kind, kinds)}; use one of {', '.join(kinds)}"
            )


def check_data_source(cfg: ExperimentConfig) -> None:
    """The data file exists, can be read, has the configured columns, and its
    timestamps and symbols can support the validation (reads the two key columns
    only; see :func:`check_panel`)."""
    import polars as pl

    from panelml.data.columns import plan_columns
    from panelml.data.horizons import resolve_horizon
    from panelml.data.loaders import resolve_source, scan_source
    from panelml.data.sniff import check_single_column

    source = resolve_source(cfg.data, cfg.base_dir)
    try:
        lazy = scan_source(source)
        schema = lazy.collect_schema()
        check_single_column(source, schema)
        plan = plan_columns(
            dict(schema),
            cfg.data,
            source=source.display,
            partition_columns=source.partition_columns,
        )
        counts = lazy.select(
            pl.col(plan.timestamp).drop_nulls().n_unique().alias("timestamps"),
            pl.col(plan.symbol).drop_nulls().n_unique().alias("symbols"),
        ).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot read {source.display} as {source.format} ({detail}): check the file or "
            "data.format"
        ) from None
    horizons = [
        resolve_horizon(t, cfg.data.horizons, cfg.data.bar_interval)[0] for t in plan.targets
    ]
    check_shape(
        cfg,
        source=source.display,
        n_timestamps=int(counts["timestamps"][0]),
        n_symbols=int(counts["symbols"][0]),
        horizon=min(horizons, default=1),
    )


def check_panel(cfg: ExperimentConfig, data: Any) -> None:
    """The loaded panel can support the configured validation (module docstring).

    Data that is not a :class:`panelml.data.Panel` (a custom pipeline's own data)
    is not checked.
    """
    from panelml.data import Panel

    if not isinstance(data, Panel):
        return
    check_shape(
        cfg,
        source=data.source,
        n_timestamps=data.n_timestamps,
        n_symbols=data.n_symbols,
        horizon=min(data.horizons.values(), default=1),
    )


def check_shape(
    cfg: ExperimentConfig, *, source: str, n_timestamps: int, n_symbols: int, horizon: int
) -> None:
    """Enough timestamps and symbols for every enabled model-fitting stage's folds."""
    from panelml.validation.splitters import make_splitter

    where = _where(cfg)
    fitting = [
        r
        for r in resolve_stages(cfg)
        if r.enabled and r.name in ("target_ranking", "feature_selection", "training")
    ]
    if not fitting:
        return
    if n_timestamps < 2:
        raise DataError(
            f"{source} holds {n_timestamps} timestamp(s): validation needs a time series, "
            "so load data with many timestamps (at least 2 * validation.n_splits)"
        )
    min_names = cfg.validation.min_names
    if n_symbols < min_names:
        raise DataError(
            f"{source} holds {n_symbols} symbol(s) but every cross-sectional IC needs at "
            f"least validation.min_names = {min_names}: add symbols or lower "
            "validation.min_names (at least 2)"
        )
    for stage in fitting:
        validation = cfg.validation
        scheme = getattr(stage.params, "scheme", None)
        key = "validation"
        if scheme is not None and scheme != validation.scheme:
            validation = validation.model_copy(update={"scheme": scheme})
            key = f"validation (with {stage.name}.scheme = {scheme})"
        splitter = make_splitter(validation, horizon, n_timestamps)
        try:
            list(splitter.split(np.zeros((n_timestamps, 1)), groups=np.arange(n_timestamps)))
        except ValueError as exc:
            raise ConfigError(
                f"{where}: {key}: the data has {n_timestamps} timestamps, too few for "
                f"n_splits = {validation.n_splits} with embargo and purging ({exc})"
            ) from None
        needed = 2 * validation.n_splits
        if stage.name == "target_ranking":
            needed = max(needed, int(getattr(stage.params, "min_timestamps", 0)))
        if n_timestamps < needed:
            raise ConfigError(
                f"{where}: {stage.name}: the data has {n_timestamps} timestamps but "
                f"{stage.name} needs at least {needed} (2 * validation.n_splits"
                + (", target_ranking.min_timestamps" if stage.name == "target_ranking" else "")
                + "): load more timestamps or lower those settings"
            )


def data_warnings(data: Any) -> list[str]:
    """What loading did to the data (``Panel.report.warnings``), for any data object."""
    report = getattr(data, "report", None)
    return [str(w) for w in getattr(report, "warnings", None) or ()]


def print_data_warnings(data: Any) -> None:
    """Each data warning once on stderr (``warning: data: ...``); they are also
    recorded in ``manifest.json`` and shown at the top of the report."""
    for warning in data_warnings(data):
        print(f"warning: data: {warning}", file=sys.stderr)

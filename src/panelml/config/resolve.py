"""Resolving a config: stage classes and params, hooks, the resolved config of a run."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from panelml.config.messages import format_validation
from panelml.config.schema import BUILTIN_SNAPSHOT_HOOK, SECTIONS, ExperimentConfig
from panelml.pipeline.errors import ConfigError, UserError
from panelml.pipeline.hooks import HookManager, plugin_name
from panelml.pipeline.registry import hook_plugins, stages
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.runner import PlannedStage, check_order
from panelml.pipeline.stage import Stage, StageParams
from panelml.pipeline.suggest import did_you_mean


# -- resolving stages and hooks ------------------------------------------------
@dataclass(frozen=True)
class ResolvedStage:
    """A pipeline entry resolved to its stage class and validated params."""

    ref: str
    cls: type[Stage[Any]]
    params: StageParams
    enabled: bool

    @property
    def name(self) -> str:
        return self.cls.name


def import_builtin_stages() -> None:
    """Register panelml's built-in stages (the engine itself never imports them)."""
    importlib.import_module("panelml.stages")


def import_builtin_hooks() -> None:
    """Register panelml's built-in hook plugins (``mlflow``; ``stability_snapshots``
    comes with the stages). Cheap: no tracking library is imported."""
    importlib.import_module("panelml.tracking")


def resolve_stages(config: ExperimentConfig) -> list[ResolvedStage]:
    """Resolve every pipeline entry to a stage class and validate its params.

    Also checks that every top-level stage section belongs to a stage of the
    pipeline and that the stage order can work.
    """
    import_builtin_stages()
    where = str(config.source) if config.source is not None else "config"
    sections = config.stage_sections()
    resolved: list[ResolvedStage] = []
    for index, entry in enumerate(config.pipeline.stages):
        key = f"pipeline.stages[{index}]"
        try:
            cls = stages.get(entry.name)
        except UserError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
        _check_stage_class(cls, entry.name, where, key)
        merged = dict(entry.params)
        enabled: Any = entry.enabled
        for section_name in dict.fromkeys((entry.name, cls.name)):
            if section_name not in sections:
                continue
            section = sections.pop(section_name)
            if section is None:
                continue
            if not isinstance(section, dict):
                raise ConfigError(
                    f"{where}: {section_name}: expected a mapping of params of stage "
                    f"{cls.name!r}, found {type(section).__name__} {section!r}"
                )
            section = dict(section)
            enabled = section.pop("enabled", enabled)
            merged.update(section)
        if not isinstance(enabled, bool):
            raise ConfigError(
                f"{where}: {cls.name}.enabled: expected true or false, found {enabled!r}"
            )
        try:
            params = cls.Params.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(
                format_validation(where, exc, merged, prefix=cls.name, model=cls.Params)
            ) from None
        resolved.append(ResolvedStage(entry.name, cls, params, enabled))
    if sections:
        name = next(iter(sections))
        known = [*SECTIONS, *(r.name for r in resolved)]
        raise ConfigError(
            f"{where}: {name}: unknown top-level key{did_you_mean(name, known)}; expected one "
            f"of {', '.join(SECTIONS)}, or the name of a stage in pipeline.stages "
            f"({', '.join(r.name for r in resolved) or 'none'})"
        )
    try:
        # instances, not classes: a stage's inputs may depend on its params
        check_order([PlannedStage(r.cls(r.params), r.enabled) for r in resolved])
    except UserError as exc:
        raise ConfigError(f"{where}: pipeline.stages: {exc}") from None
    return resolved


def _check_stage_class(obj: Any, ref: str, where: str, key: str) -> None:
    if not (isinstance(obj, type) and issubclass(obj, Stage)):
        raise ConfigError(
            f"{where}: {key}: {ref!r} resolves to {obj!r}, which is not a panelml Stage subclass"
        )
    missing = [a for a in ("name", "result_type") if not hasattr(obj, a)]
    if missing:
        raise ConfigError(
            f"{where}: {key}: stage class {obj.__qualname__} lacks {', '.join(missing)}"
        )


def build_stages(config: ExperimentConfig) -> list[PlannedStage]:
    """Stage instances for a run, in order, each marked enabled or not."""
    return [PlannedStage(r.cls(r.params), r.enabled) for r in resolve_stages(config)]


def build_hooks(config: ExperimentConfig, reporter: Reporter | None = None) -> HookManager:
    """A :class:`HookManager` with the config's hook plugins, created and validated."""
    where = str(config.source) if config.source is not None else "config"
    manager = HookManager(strict=config.runtime.strict_hooks, reporter=reporter)
    if config.hooks:
        import_builtin_hooks()
    for index, entry in enumerate(config.hooks):
        key = f"hooks[{index}]"
        try:
            obj = hook_plugins.get(entry.name)
        except UserError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
        if isinstance(obj, type):
            try:
                plugin = obj(**entry.params)
            except TypeError as exc:
                raise ConfigError(
                    f"{where}: {key}.params: cannot create hook plugin {entry.name!r} "
                    f"with {entry.params!r}: {exc}"
                ) from None
        else:
            if entry.params:
                raise ConfigError(
                    f"{where}: {key}.params: hook plugin {entry.name!r} is an object, "
                    "not a class, so it takes no params; remove them"
                )
            plugin = obj
        explicit = getattr(plugin, "name", "")
        label = plugin_name(plugin) if isinstance(explicit, str) and explicit else entry.name
        try:
            manager.register(plugin, name=label)
        except UserError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
    if config.runtime.stability_snapshots and not any(
        entry.name == BUILTIN_SNAPSHOT_HOOK for entry in config.hooks
    ):
        from panelml.stability.hooks import StabilitySnapshots

        manager.register(StabilitySnapshots(), name=BUILTIN_SNAPSHOT_HOOK)
    return manager


@dataclass(frozen=True)
class ResolvedExperiment:
    """A config resolved once for a run: the resolved config, its stages, its hooks."""

    config: ExperimentConfig
    stages: list[ResolvedStage]
    hooks: HookManager

    def planned(self) -> list[PlannedStage]:
        """Stage instances for the run, in order, each marked enabled or not."""
        return [PlannedStage(r.cls(r.params), r.enabled) for r in self.stages]


def resolve_experiment(config: ExperimentConfig) -> ResolvedExperiment:
    """Resolve ``config``'s stages and build its hooks, once (what a run needs)."""
    resolved = resolve_stages(config)
    hooks = build_hooks(config)
    return ResolvedExperiment(_resolved_config(config, resolved), resolved, hooks)


def resolve_config(config: ExperimentConfig) -> ExperimentConfig:
    """The config with stage params resolved (defaults filled, sections merged) and
    hooks checked; the result has no leftover top-level stage sections."""
    return resolve_experiment(config).config


def _resolved_config(config: ExperimentConfig, resolved: list[ResolvedStage]) -> ExperimentConfig:
    data = config.model_dump(mode="json", exclude=set(config.stage_sections()))
    data["pipeline"] = {
        "stages": [
            {"name": r.ref, "enabled": r.enabled, "params": r.params.model_dump(mode="json")}
            for r in resolved
        ]
    }
    out = ExperimentConfig.model_validate(data)
    return out.locate(config.base_dir, config.source)

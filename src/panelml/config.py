"""ExperimentConfig: one YAML file describes an experiment, validated up front.

Layout of the file::

    experiment: {name: demo, description: ""}
    data: {...}          # panelml.data.spec.DataConfig
    validation: {...}    # panelml.validation.spec.ValidationConfig
    pipeline:
      stages: [leakage_screen, target_ranking, ...]   # or {name, enabled, params}
    hooks: []            # hook plugin names / dotted paths / {name, params}
    runtime: {seed: 42, output_dir: runs, cache_dir: .panelml/cache, ...}
    target_ranking: {top_n: 3}   # params of a stage, keyed by its name
    training: {enabled: false}

Stage params may be given in the stage's list entry or as a top-level key named
after the stage (the section wins where both set a key). Each stage validates
its own params with its ``Params`` model, whether it is built in or comes from
a plugin. Any other unknown top-level key is an error.

Relative paths (``data.path``, ``runtime.output_dir``, ``runtime.cache_dir``)
are relative to the folder of the config file, not the working directory, so a
config means the same thing wherever it is run from. A config built in Python
uses the working directory at construction time.

Every problem is raised as :class:`ConfigError` whose message names the file,
the key path, what was expected and what was found.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from panelml.data.spec import DataConfig
from panelml.pipeline.errors import ConfigError, UserError
from panelml.pipeline.hooks import HookManager, plugin_name
from panelml.pipeline.registry import hook_plugins, stages
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.runner import PlannedStage, check_order
from panelml.pipeline.stage import Stage, StageParams
from panelml.pipeline.suggest import did_you_mean
from panelml.validation.spec import ValidationConfig

__all__ = [
    "DEFAULT_STAGES",
    "ConfigError",
    "ExperimentConfig",
    "ExperimentInfo",
    "HookEntry",
    "PipelineSection",
    "ResolvedStage",
    "RuntimeConfig",
    "StageEntry",
    "apply_overrides",
    "build_hooks",
    "build_stages",
    "load_config",
    "read_config",
    "resolve_config",
    "resolve_experiment",
    "resolve_stages",
]

BUILTIN_SNAPSHOT_HOOK = "stability_snapshots"
"""Hook plugin added to every run unless ``runtime.stability_snapshots`` is false."""

DEFAULT_STAGES = (
    "leakage_screen",
    "target_ranking",
    "feature_selection",
    "training",
    "stability",
    "report",
)


def _name_or_mapping(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class ExperimentInfo(BaseModel):
    """``experiment:``: the name is the run folder's parent (``<output_dir>/<name>/``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="experiment name")
    description: str = ""


class StageEntry(BaseModel):
    """One entry of ``pipeline.stages``: a name (registry name, entry point or
    ``pkg.module:Class``), whether it is enabled, and its params."""

    model_config = ConfigDict(extra="forbid")

    name: str
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return _name_or_mapping(value)


class PipelineSection(BaseModel):
    """``pipeline:``: the stages, in the order they run."""

    model_config = ConfigDict(extra="forbid")

    stages: list[StageEntry] = Field(
        default_factory=lambda: [StageEntry(name=n) for n in DEFAULT_STAGES]
    )


class HookEntry(BaseModel):
    """One entry of ``hooks:``: a hook plugin name or dotted path, and the keyword
    arguments its class is constructed with."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return _name_or_mapping(value)


class RuntimeConfig(BaseModel):
    """``runtime:``: how the run executes (never what it computes)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(42, description="master seed; stages derive their own from it")
    output_dir: str = Field("runs", description="runs go to <output_dir>/<experiment>/<run_id>/")
    cache_dir: str = Field(".panelml/cache", description="stage result cache")
    executor: Literal["serial", "process", "ray"] = "serial"
    n_jobs: int = Field(1, ge=-1, description="workers for the executor; -1 = all CPUs")
    strict_hooks: bool = Field(False, description="a failing hook stops the run")
    deterministic: bool = Field(False, description="stages pick bit-exact settings")
    quiet: bool = Field(False, description="print only warnings and errors")
    stability_snapshots: bool = Field(
        True,
        description="record feature-importance snapshots after feature_selection and training "
        "(the built-in 'stability_snapshots' hook) so stability can be tracked across runs",
    )


_SECTIONS: dict[str, type[BaseModel]] = {
    "experiment": ExperimentInfo,
    "data": DataConfig,
    "validation": ValidationConfig,
    "pipeline": PipelineSection,
    "runtime": RuntimeConfig,
    "hooks": HookEntry,
}


class ExperimentConfig(BaseModel):
    """The whole experiment. Unknown top-level keys are kept aside as stage sections
    (``model_extra``) until :func:`resolve_config` merges them into the stage entries."""

    model_config = ConfigDict(extra="allow")

    experiment: ExperimentInfo
    data: DataConfig
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    pipeline: PipelineSection = Field(default_factory=PipelineSection)
    hooks: list[HookEntry] = Field(default_factory=list)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against (the config file's folder)."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        """The config file this config was loaded from, if any."""
        return self._source

    def locate(self, base_dir: Path, source: Path | None = None) -> ExperimentConfig:
        """Set the base folder and source file (returns ``self``)."""
        self._base_dir = Path(base_dir).resolve()
        self._source = source
        return self

    def resolve_path(self, path: str | Path) -> Path:
        """``path`` made absolute against :attr:`base_dir` (absolute paths unchanged)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def stage_sections(self) -> dict[str, Any]:
        """Top-level keys that are not config sections (meant as stage params)."""
        return dict(self.model_extra or {})

    def resolved_dict(self) -> dict[str, Any]:
        """The config as plain JSON-ready data (what ``config.yaml`` in a run holds)."""
        return self.model_dump(mode="json")


# -- loading -------------------------------------------------------------------
def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override, validate and resolve an experiment YAML file.

    ``overrides`` are ``KEY.PATH=VALUE`` strings (``--set``); values are parsed as
    YAML. The returned config has every stage's params resolved (defaults
    filled in, top-level stage sections merged) and its hooks checked.
    """
    return resolve_config(read_config(path, overrides))


def read_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override and validate an experiment YAML file (not yet resolved)."""
    file = Path(path)
    where = str(file)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise ConfigError(f"{where}: config file {what}; expected a YAML file")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML syntax error: {_yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the config file: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: expected a mapping at the top level (experiment:, data:, ...), "
            f"found {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides, where=where)
    return validate_config(raw, base_dir=file.resolve().parent, source=file)


def validate_config(
    raw: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> ExperimentConfig:
    """Validate a raw mapping into an :class:`ExperimentConfig` (not yet resolved)."""
    where = str(source) if source is not None else "config"
    try:
        config = ExperimentConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(_format_validation(where, exc, raw)) from None
    return config.locate(base_dir or Path.cwd(), source)


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str], *, where: str = "config"
) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY.PATH=VALUE`` override set (value parsed as YAML)."""
    out: dict[str, Any] = _deep_copy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _OVERRIDE_KEY.match(key):
            raise ConfigError(
                f"--set {item!r}: expected KEY.PATH=VALUE, for example "
                "'target_ranking.top_n=3' or 'runtime.seed=7'"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
        _set_path(out, key.split("."), value, item)
    return out


_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*$")


def _set_path(target: dict[str, Any], parts: list[str], value: Any, item: str) -> None:
    node: Any = target
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, item, parts[: depth + 1], create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, item)
        node[index] = value
    else:
        node[last] = value


def _child(node: Any, part: str, item: str, path: list[str], *, create: bool) -> Any:
    if isinstance(node, list):
        index = _index(node, part, item)
        if isinstance(node[index], str) and path[0] in ("pipeline", "hooks"):
            # a stage or hook given as a plain name: expand it so its fields can be set
            node[index] = {"name": node[index]}
        return node[index]
    if not isinstance(node, dict):
        raise ConfigError(
            f"--set {item!r}: {'.'.join(path[:-1])} is a {type(node).__name__}, not a mapping"
        )
    if node.get(part) is None and create:
        node[part] = {}
    return node[part]


def _index(node: list[Any], part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(
            f"--set {item!r}: {part!r} is not an index of a list of {len(node)} items"
        )
    return int(part)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


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
                _format_validation(where, exc, merged, prefix=cls.name, model=cls.Params)
            ) from None
        resolved.append(ResolvedStage(entry.name, cls, params, enabled))
    if sections:
        name = next(iter(sections))
        known = [*_SECTIONS, *(r.name for r in resolved)]
        raise ConfigError(
            f"{where}: {name}: unknown top-level key{did_you_mean(name, known)}; expected one "
            f"of {', '.join(_SECTIONS)}, or the name of a stage in pipeline.stages "
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


# -- messages ------------------------------------------------------------------
def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


def _loc(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format_validation(
    where: str,
    exc: ValidationError,
    raw: Any,
    *,
    prefix: str | None = None,
    model: type[BaseModel] | None = None,
) -> str:
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = _loc([prefix, *loc] if prefix else loc) or (prefix or "(top level)")
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = model if prefix else _SECTIONS.get(str(loc[0])) if loc else None
            if not prefix and len(loc) > 3 and loc[0] == "pipeline":
                owner = StageEntry
            fields = list(owner.model_fields) if owner is not None else []
            problems.append(
                f"{key}: unknown key{did_you_mean(str(loc[-1]), fields)}"
                + (f"; expected one of {', '.join(fields)}" if fields else "")
            )
        elif kind == "missing":
            problems.append(f"{key}: required key is missing")
        else:
            found = _short(error.get("input"))
            problems.append(f"{key}: {error['msg']}, found {found}")
    head = f"{where}: " if len(problems) == 1 else f"{where}: {len(problems)} problems: "
    return head + "; ".join(problems)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

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

from panelml.config.loading import apply_overrides, load_config, read_config, validate_config
from panelml.config.resolve import (
    ResolvedExperiment,
    ResolvedStage,
    build_hooks,
    build_stages,
    import_builtin_stages,
    resolve_config,
    resolve_experiment,
    resolve_stages,
)
from panelml.config.schema import (
    BUILTIN_SNAPSHOT_HOOK,
    DEFAULT_STAGES,
    ExperimentConfig,
    ExperimentInfo,
    HookEntry,
    PipelineSection,
    RuntimeConfig,
    StageEntry,
)
from panelml.pipeline.errors import ConfigError

__all__ = [
    "BUILTIN_SNAPSHOT_HOOK",
    "DEFAULT_STAGES",
    "ConfigError",
    "ExperimentConfig",
    "ExperimentInfo",
    "HookEntry",
    "PipelineSection",
    "ResolvedExperiment",
    "ResolvedStage",
    "RuntimeConfig",
    "StageEntry",
    "apply_overrides",
    "build_hooks",
    "build_stages",
    "import_builtin_stages",
    "load_config",
    "read_config",
    "resolve_config",
    "resolve_experiment",
    "resolve_stages",
    "validate_config",
]

"""panelml: leakage-safe, config-driven training pipelines for panel data.

The public API is re-exported here lazily, so ``import panelml`` stays light
(no model libraries are imported until they are used)::

    import panelml
    result = panelml.run("experiment.yaml", overrides=["target_ranking.top_n=3"])

Tables in and out may be polars, pandas or pyarrow::

    cfg = panelml.load_config({"experiment": {"name": "nb"}, "data": {"targets": ["fwd_*"]}})
    result = panelml.run(cfg_dict, data=pandas_frame)    # data.path not needed
    result.to_pandas()["target_ranking"]["ranking"]
    panelml.open_run(result.run_dir).to_pandas()          # every table of a run folder
    panelml.load_run(result.run_dir).predict(pandas_frame)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from panelml.api import RunResult, load_config, panel_from_frame, run
    from panelml.config import ExperimentConfig
    from panelml.pipeline import hooks
    from panelml.pipeline.context import RunContext
    from panelml.pipeline.errors import ConfigError, UserError
    from panelml.pipeline.registry import register_hook, register_stage
    from panelml.pipeline.results import JsonResult, TableResult
    from panelml.pipeline.stage import Stage, StageParams, StageResult
    from panelml.predict import load_run
    from panelml.run_tables import RunTables, open_run

_EXPORTS: dict[str, tuple[str, str | None]] = {
    "run": ("panelml.api", "run"),
    "load_config": ("panelml.api", "load_config"),
    "RunResult": ("panelml.api", "RunResult"),
    "ExperimentConfig": ("panelml.config", "ExperimentConfig"),
    "Stage": ("panelml.pipeline.stage", "Stage"),
    "StageParams": ("panelml.pipeline.stage", "StageParams"),
    "StageResult": ("panelml.pipeline.stage", "StageResult"),
    "TableResult": ("panelml.pipeline.results", "TableResult"),
    "JsonResult": ("panelml.pipeline.results", "JsonResult"),
    "RunContext": ("panelml.pipeline.context", "RunContext"),
    "register_stage": ("panelml.pipeline.registry", "register_stage"),
    "register_hook": ("panelml.pipeline.registry", "register_hook"),
    "register_model": ("panelml.models.registry", "register_model"),
    "hooks": ("panelml.pipeline.hooks", None),
    "UserError": ("panelml.pipeline.errors", "UserError"),
    "ConfigError": ("panelml.pipeline.errors", "ConfigError"),
    "load_run": ("panelml.predict", "load_run"),
    "panel_from_frame": ("panelml.api", "panel_from_frame"),
    "open_run": ("panelml.run_tables", "open_run"),
    "RunTables": ("panelml.run_tables", "RunTables"),
}

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "JsonResult",
    "RunContext",
    "RunResult",
    "RunTables",
    "Stage",
    "StageParams",
    "StageResult",
    "TableResult",
    "UserError",
    "__version__",
    "hooks",
    "load_config",
    "load_run",
    "open_run",
    "panel_from_frame",
    "register_hook",
    "register_model",
    "register_stage",
    "run",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'panelml' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

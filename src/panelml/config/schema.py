"""The experiment config's sections and :class:`ExperimentConfig` (pydantic models).

See :mod:`panelml.config` for the file layout and the rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from panelml.data.spec import DataConfig
from panelml.validation.spec import ValidationConfig

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
    arguments its class is constructed with, under ``params:`` or beside ``name``
    (``{name: mlflow, tracking_uri: ...}``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        value = _name_or_mapping(value)
        if isinstance(value, dict):
            flat = {k: v for k, v in value.items() if k not in ("name", "params")}
            if flat and isinstance(value.get("params", {}), dict):
                value = {"name": value.get("name"), "params": {**value.get("params", {}), **flat}}
        return value


class RuntimeConfig(BaseModel):
    """``runtime:``: how the run executes (never what it computes)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(42, description="master seed; stages derive their own from it")
    output_dir: str = Field("runs", description="runs go to <output_dir>/<experiment>/<run_id>/")
    cache_dir: str = Field(".panelml/cache", description="stage result cache")
    executor: Literal["serial", "process", "ray"] = "serial"
    n_workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="tasks the executor runs at once (see docs/scaling.md)"
    )
    threads_per_worker: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto", description="library threads (LightGBM, XGBoost, OpenMP) each task may use"
    )
    ray_address: str | None = Field(
        None,
        description="executor ray: absent starts a local Ray; 'auto' or 'ray://host:port' "
        "joins an existing cluster",
    )
    n_jobs: int | None = Field(
        None,
        ge=-1,
        description="deprecated: the total cores (-1 = all); serial gives them to its one "
        "worker as threads, process and ray run that many one-thread workers",
    )
    numpy_hugepages: bool | Literal["auto"] = Field(
        "auto",
        description="numpy's huge-page advice during the run: auto turns it off where the "
        "kernel compacts memory on faults of advised regions (its THP defrag policy is "
        "madvise or defer+madvise), which stalls a long run; true / false force it",
    )
    strict_hooks: bool = Field(False, description="a failing hook stops the run")
    deterministic: bool = Field(False, description="stages pick bit-exact settings")
    quiet: bool = Field(False, description="print only warnings and errors")
    stability_snapshots: bool = Field(
        True,
        description="record feature-importance snapshots after feature_selection and training "
        "(the built-in 'stability_snapshots' hook) so stability can be tracked across runs",
    )


SECTIONS: dict[str, type[BaseModel]] = {
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

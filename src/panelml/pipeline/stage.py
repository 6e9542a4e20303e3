"""The stage contract: what a pipeline step is and what it returns.

A stage is a small object with one job. It declares its ``name``, a pydantic
``Params`` model (validated from the YAML), the names of the earlier results it
``requires``, a ``version`` that enters its cache key, and the ``result_type``
its ``run`` returns. A result knows how to save itself to a folder, load itself
back and fingerprint itself; that is what makes caching and resuming possible
without the runner knowing anything about what is inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from panelml.pipeline.context import RunContext


class StageParams(BaseModel):
    """Base class for a stage's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StageResult(ABC):
    """The typed output of one stage.

    ``save`` writes everything the result holds into ``directory`` (parquet for
    tables, JSON for small records); ``load`` reads it back into an equal
    object; ``fingerprint`` is a stable hash of the content that later stages'
    cache keys are built from. ``export`` may additionally publish artefacts at
    the top of the run folder (for example ``models/`` or ``report.html``); it
    is called after ``save`` both for freshly computed and for cached results.
    """

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the result into ``directory`` (which exists and is empty)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Read a result back from a folder written by :meth:`save`."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A stable hex digest of the result's content."""

    def export(self, run_dir: Path) -> None:  # noqa: B027 - optional hook, no-op by default
        """Publish artefacts outside the stage's own folder (optional)."""

    def manifest_summary(self) -> dict[str, Any] | None:
        """A small JSON-able record of the result for ``manifest.json`` (optional).

        The runner stores it as the stage's ``summary`` (for example the leakage
        screen's removals and warnings per target); ``None``: nothing to record.
        """
        return None


P = TypeVar("P", bound=StageParams)


class Stage(ABC, Generic[P]):
    """One pipeline step. Subclass it, set the class attributes, implement ``run``.

    Class attributes:
        name: the registry name used in the YAML.
        Params: the pydantic model of this stage's parameters.
        requires: names of results (stage names) this stage reads from ``ctx.results``.
            Each must be produced by an earlier stage; when one of them was
            skipped in a run, this stage is skipped too.
        uses: results this stage reads when present (for example a
            report that shows training metrics if training ran). When such a
            stage is in the pipeline it must run earlier; its fingerprint enters
            this stage's cache key whenever it is present.
        result_type: the :class:`StageResult` subclass ``run`` returns (used to
            load cached results).
        version: bump it when the stage's logic changes; it enters the cache key.
        config_sections: top-level config sections the stage reads besides its
            own params (for example ``("validation",)``); their resolved values
            enter its cache key.
        cacheable: ``False`` for stages whose output depends on state outside
            the run (the ``stability`` stage reads earlier runs): never cached.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StageParams]] = StageParams
    requires: ClassVar[tuple[str, ...]] = ()
    uses: ClassVar[tuple[str, ...]] = ()
    result_type: ClassVar[type[StageResult]]
    version: ClassVar[str] = "1"
    config_sections: ClassVar[tuple[str, ...]] = ()
    cacheable: ClassVar[bool] = True

    def __init__(self, params: P) -> None:
        self.params: P = params

    def skip(self, ctx: RunContext) -> str | None:
        """Return a reason to skip this stage in this run, or ``None`` to run it."""
        return None

    @abstractmethod
    def run(self, ctx: RunContext) -> StageResult:
        """Do the stage's work and return its result."""

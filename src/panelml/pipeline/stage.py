"""The stage contract: what a pipeline step is and what it returns.

A stage is a small object with one job. It declares its ``name``, a pydantic
``Params`` model (validated from the YAML), the contract kinds it reads
(:meth:`Stage.inputs`), a ``version`` that enters its cache key, and the
``result_type`` its ``run`` returns. A result names the contract kinds it
satisfies (``provides``), checks itself against them (``contract_problems``),
and knows how to save itself to a folder, load itself back and fingerprint
itself; that is what makes caching and resuming possible without the runner
knowing anything about what is inside.

A contract kind is a plain string (``"TargetChoice"``); the engine only matches
the strings. A stage's own name is also a kind its result provides, which is how
the legacy ``requires``/``uses`` stage-name tuples keep working.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from panelml.pipeline.context import RunContext


class StageParams(BaseModel):
    """Base class for a stage's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Input:
    """One input a stage reads: a contract kind (e.g. ``"TargetChoice"``), optional or not.

    A required input must be provided by an earlier stage of the pipeline (checked
    before any work); when its provider was skipped in a run, the stage is skipped
    too. An optional input is read when present; its provider must then run
    earlier, and its fingerprint enters the stage's cache key. ``instead`` names
    another way to do without the input (for example "set training.targets"),
    which the error for a missing required input adds to the providers it names.
    """

    kind: str
    optional: bool = False
    instead: str | None = None


class StageResult(ABC):
    """The typed output of one stage.

    ``save`` writes everything the result holds into ``directory`` (parquet for
    tables, JSON for small records); ``load`` reads it back into an equal
    object; ``fingerprint`` is a stable hash of the content that later stages'
    cache keys are built from. ``export`` may additionally publish artefacts at
    the top of the run folder (for example ``models/`` or ``report.html``); it
    is called after ``save`` both for freshly computed and for cached results.

    ``provides`` lists the contract kinds the result satisfies; the runner calls
    :meth:`contract_problems` after every ``run`` and cache load.
    """

    provides: ClassVar[tuple[str, ...]] = ()
    """Contract kinds this result satisfies (e.g. ``("TargetChoice", "RankingScores")``)."""

    def contract_problems(self) -> list[str]:
        """Ways this result breaks the contracts it provides; empty when it conforms.

        For example ``"table 'ranking' has no column 'status'"``. The runner raises
        a :class:`~panelml.pipeline.errors.ContractError` naming the stage and the
        first problem (a bug in the stage). Default: no problems.
        """
        return []

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

    def finalize(self, run_dir: Path) -> None:  # noqa: B027 - optional hook, no-op by default
        """Publish what depends on the run's final record (optional).

        Called once per run, after ``manifest.json`` holds the final status and
        every stage's timing, for each result of the run (computed or cached),
        for example to fill a report's run-record block. Default: nothing.
        """

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
        requires: legacy: names of stages whose results this stage reads; each
            is a required :class:`Input` of that kind (see :meth:`inputs`).
        uses: legacy: names of stages read when present; each is an optional
            :class:`Input`. New stages override :meth:`inputs` instead.
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

    def inputs(self) -> tuple[Input, ...]:
        """The contract kinds this stage reads; may depend on ``self.params``.

        Default: derived from the legacy ``requires`` (required) and ``uses``
        (optional) stage-name tuples, so third-party stages keep working.
        """
        return legacy_inputs(type(self))

    def skip(self, ctx: RunContext) -> str | None:
        """Return a reason to skip this stage in this run, or ``None`` to run it."""
        return None

    @abstractmethod
    def run(self, ctx: RunContext) -> StageResult:
        """Do the stage's work and return its result."""


def legacy_inputs(cls: type[Stage[Any]]) -> tuple[Input, ...]:
    """The :class:`Input` s a stage class's ``requires``/``uses`` tuples stand for."""
    return (
        *(Input(name) for name in cls.requires),
        *(Input(name, optional=True) for name in cls.uses),
    )


def provided_kinds(name: str, result_type: type[StageResult]) -> tuple[str, ...]:
    """The kinds a stage called ``name`` provides: its name, then ``result_type.provides``."""
    return (name, *getattr(result_type, "provides", ()))

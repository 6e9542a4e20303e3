"""RunContext: everything a stage may read while it runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from panelml.pipeline.stage import StageResult, provided_kinds

if TYPE_CHECKING:
    from panelml.pipeline.events import EventBus
    from panelml.pipeline.executor import Executor
    from panelml.pipeline.reporter import Reporter

R = TypeVar("R", bound=StageResult)


@dataclass
class RunContext:
    """The state of one run, handed to every stage.

    Attributes:
        config: the validated experiment config (``panelml.config.ExperimentConfig``);
            typed ``Any`` here because the engine knows nothing about it.
        data: the loaded data (a ``panelml.data.Panel`` in panelml's own runs).
        data_fingerprint: stable digest of ``data``; part of every cache key.
        run_dir: ``<output_dir>/<experiment>/<run_id>/``.
        results: results of the stages that already ran (or came from cache).
        seed: the run's master seed; use :meth:`rng` / :meth:`child_seed` to
            derive independent, reproducible streams per purpose.
        deterministic: ``runtime.deterministic``: stages must pick bit-exact settings.
        n_jobs: library threads one task may use (``runtime.threads_per_worker``
            resolved; see :mod:`panelml.pipeline.budget`). Tasks run through
            ``executor``, which decides how many run at once.
    """

    config: Any
    data: Any
    data_fingerprint: str
    run_dir: Path
    run_id: str
    experiment: str
    events: EventBus
    executor: Executor
    reporter: Reporter
    seed: int = 42
    deterministic: bool = False
    n_jobs: int = 1
    results: dict[str, StageResult] = field(default_factory=dict)

    def result(self, name: str, kind: type[R]) -> R:
        """The result of stage ``name``, checked to be of type ``kind``."""
        try:
            found = self.results[name]
        except KeyError:
            raise KeyError(
                f"no result named {name!r} in this run; available: {sorted(self.results)}"
            ) from None
        if not isinstance(found, kind):
            raise TypeError(
                f"result {name!r} is a {type(found).__name__}, expected {kind.__name__}"
            )
        return found

    def provider(self, kind: str) -> str | None:
        """The name of the latest stage in ``results`` whose result provides ``kind``."""
        for name in reversed(self.results):
            if kind in provided_kinds(name, type(self.results[name])):
                return name
        return None

    def input(self, kind: str) -> StageResult | None:
        """The result of the latest earlier stage in this run whose result provides ``kind``.

        ``None`` when no such stage ran (it was skipped, or the input is optional
        and its provider is not in the pipeline). Stages read their inputs through
        this and the contract readers, never by another stage's name.
        """
        name = self.provider(kind)
        return None if name is None else self.results[name]

    def child_seed(self, *purpose: str | int) -> int:
        """A 32-bit seed derived from the master seed and a purpose path.

        The same purpose always gives the same seed for the same master seed,
        independently of the order in which stages ask for seeds.
        """
        return self.seeds().child_seed(*purpose)

    def rng(self, *purpose: str | int) -> np.random.Generator:
        """A numpy Generator seeded by :meth:`child_seed`."""
        return self.seeds().rng(*purpose)

    def seeds(self) -> Seeds:
        """The run's seed source alone: picklable, for tasks sent to executor workers."""
        return Seeds(self.seed)


@dataclass(frozen=True)
class Seeds:
    """Seeds derived from a master seed by purpose (what :class:`RunContext` gives),
    without the rest of the context, so executor tasks can derive the same seeds."""

    seed: int

    def child_seed(self, *purpose: str | int) -> int:
        """A 32-bit seed from the master seed and a purpose path (order-independent)."""
        text = "/".join([str(self.seed), *map(str, purpose)])
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")

    def rng(self, *purpose: str | int) -> np.random.Generator:
        """A numpy Generator seeded by :meth:`child_seed`."""
        return np.random.default_rng(self.child_seed(*purpose))

"""Typed event records of a run, and the EventBus they travel on.

The runner announces everything that happens in a run as one frozen event
object on the run's :class:`EventBus`: the pipeline starting and finishing, each
stage starting, completing, coming from the cache, being skipped or failing,
and a hook failing. Anything may subscribe: the ``events.jsonl`` writer
(:class:`EventLog`), the :class:`~panelml.pipeline.hooks.HookManager` (which is
how hooks are called), progress displays, tests.

Every event carries ``run_id`` and ``time`` (seconds since the epoch, UTC).
Fields that hold live objects (the run context, a stage result, an exception)
are excluded from the JSON form: in ``events.jsonl`` each line is one JSON
object with an ``"event"`` field naming the type and the plain fields beside it.

Events are frozen and keyword-only, so adding a field later breaks no reader.
"""

from __future__ import annotations

import dataclasses
import json
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from panelml.pipeline.context import RunContext
    from panelml.pipeline.stage import StageResult

_LIVE = {"json": False}
"""Field metadata: a live object, left out of the JSON form."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: which run, and when (epoch seconds)."""

    run_id: str
    time: float = field(default_factory=_time.time)

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict: ``{"event": <type name>, <plain fields>...}``."""
        out: dict[str, Any] = {"event": type(self).__name__}
        for f in dataclasses.fields(self):
            if f.metadata.get("json", True):
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


# -- pipeline ------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PipelineStarted(Event):
    """The run begins; the order of stages has been checked, nothing has run yet."""

    experiment: str
    run_dir: str
    stages: tuple[str, ...]
    context: RunContext | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


@dataclass(frozen=True, kw_only=True)
class PipelineFinished(Event):
    """The run ended, well (``status == "finished"``) or not (``"failed"``, ``"interrupted"``).

    ``manifest.json`` is already written when this event is emitted.
    """

    status: str
    seconds: float
    error: str | None = None
    context: RunContext | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


# -- stages --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    """A stage is about to compute its result (not emitted for cached or skipped stages)."""

    stage: str
    cache_key: str
    context: RunContext | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


@dataclass(frozen=True, kw_only=True)
class StageEnded(Event):
    """Base of the three ways a stage ends without failing: completed, cached, skipped.

    ``status`` is ``"ran"``, ``"cached"`` or ``"skipped"``. ``result`` is the
    stage's result (``None`` when skipped) and ``context`` the run context, whose
    ``results`` already include this stage's result.
    """

    stage: str
    status: str
    result: StageResult | None = field(default=None, repr=False, compare=False, metadata=_LIVE)
    context: RunContext | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


@dataclass(frozen=True, kw_only=True)
class StageCompleted(StageEnded):
    """A stage computed its result, saved it, and it is in ``ctx.results``."""

    status: str = "ran"
    seconds: float
    cache_key: str
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class StageCached(StageEnded):
    """A stage's result was loaded from the cache instead of being computed."""

    status: str = "cached"
    seconds: float
    cache_key: str
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class StageSkipped(StageEnded):
    """A stage did not run: disabled in the config, its ``skip`` said so, or an input is missing."""

    status: str = "skipped"
    reason: str


@dataclass(frozen=True, kw_only=True)
class StageFailed(Event):
    """A stage raised; ``error`` is the exception's ``repr``. The run stops after this event."""

    stage: str
    seconds: float
    error: str
    exception: BaseException | None = field(default=None, repr=False, compare=False, metadata=_LIVE)
    context: RunContext | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


# -- hooks ---------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class HookFailed(Event):
    """A hook method raised; the run went on (unless ``strict_hooks``).

    ``hook`` is ``"<plugin>.<method>"``, ``during`` the type name of the event
    the hook was handling.
    """

    hook: str
    plugin: str
    during: str
    error: str
    exception: BaseException | None = field(default=None, repr=False, compare=False, metadata=_LIVE)


E = TypeVar("E", bound=Event)
Callback = Callable[[Any], None]


class EventBus:
    """Delivers every emitted event to its subscribers, in subscription order.

    Subscribers are trusted code: an exception in a callback propagates to the
    code that emitted the event. Use a hook plugin (see
    :mod:`panelml.pipeline.hooks`) for code that must not break a run.
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[Callback, type[Event]]] = []

    def subscribe(
        self, callback: Callable[[E], None], event_type: type[E] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of ``event_type`` (default: all).

        Subclasses count: subscribing to :class:`StageEnded` receives completed,
        cached and skipped stages. Returns a function that unsubscribes.
        """
        entry: tuple[Callback, type[Event]] = (callback, event_type or Event)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber."""
        for callback, kind in list(self._subscribers):
            if isinstance(event, kind):
                callback(event)


class EventLog:
    """Bus subscriber appending every event to a JSON-lines file (``events.jsonl``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def __call__(self, event: Event) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(event.to_json(), default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (further events reopen it in append mode)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_events(path: Path) -> list[dict[str, Any]]:
    """The records of an ``events.jsonl`` file, in order."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

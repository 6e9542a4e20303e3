"""Hooks: the public extension points of a run, and the HookManager that calls them.

A *hook plugin* is any object with one or more methods named after the hooks
below. Each hook method takes exactly one argument besides ``self``: a frozen
event object (see :mod:`panelml.pipeline.events`). Because hooks receive one
object, panelml can add fields to events later without breaking any plugin.

Hooks and events are one mechanism: the runner emits events on the run's
:class:`~panelml.pipeline.events.EventBus`; the :class:`HookManager` subscribes
to the bus and calls the hook methods that match each event type:

==================  ==========================================================
hook                called with
==================  ==========================================================
``before_pipeline`` :class:`~panelml.pipeline.events.PipelineStarted`
``before_stage``    :class:`~panelml.pipeline.events.StageStarted` (only for
                    stages that are about to compute; not for cached or
                    skipped ones)
``after_stage``     :class:`~panelml.pipeline.events.StageEnded`: one of
                    ``StageCompleted`` (computed), ``StageCached`` (loaded from
                    the cache) or ``StageSkipped`` (``result is None``); check
                    ``event.status`` or ``isinstance``
``on_stage_error``  :class:`~panelml.pipeline.events.StageFailed`
``after_pipeline``  :class:`~panelml.pipeline.events.PipelineFinished`, after
                    ``manifest.json`` is written, whether the run failed or not
==================  ==========================================================

Order: hook methods run by descending **priority** (higher first), then in
registration order (the order of the config's ``hooks:`` list). A plugin sets
its priority with a ``priority`` attribute (default 0); one method can override
it with the :func:`hookimpl` decorator. ``panelml hooks CONFIG`` prints the
resulting order.

Isolation: a hook that raises is reported as a warning and recorded as a
:class:`~panelml.pipeline.events.HookFailed` event, and the run goes on. It never
replaces a stage's own exception. With ``runtime.strict_hooks: true`` a hook
failure stops the run with :class:`HookError` chained to the hook's exception.

Validation happens at registration, not when a hook is first called: a public
method whose name looks like a hook (``before_*``, ``after_*``, ``on_*``) but is
not one, or a hook method that does not take exactly one positional argument,
is a :class:`HookValidationError` naming the plugin and the method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from panelml.pipeline.errors import HookError, HookValidationError
from panelml.pipeline.events import (
    Event,
    EventBus,
    HookFailed,
    PipelineFinished,
    PipelineStarted,
    StageEnded,
    StageFailed,
    StageStarted,
)
from panelml.pipeline.suggest import did_you_mean

if TYPE_CHECKING:
    from panelml.pipeline.reporter import Reporter

__all__ = [
    "HOOK_EVENTS",
    "HOOK_NAMES",
    "HookError",
    "HookManager",
    "HookValidationError",
    "Hooks",
    "hookimpl",
]


class Hooks:
    """The hook specification, documented like public API.

    Subclassing it is optional (any object with correctly named methods is a
    plugin); doing so gives editors the signatures. Methods not overridden are
    not called.
    """

    name: str = ""
    """Name shown in ``panelml hooks`` and in warnings (default: the class name)."""

    priority: int = 0
    """Higher runs earlier; ties keep registration order."""

    def before_pipeline(self, event: PipelineStarted) -> None:
        """Called once, after the stage order is checked and before the first stage.

        ``event.context`` is the run context; ``event.stages`` the planned stage names.
        """

    def before_stage(self, event: StageStarted) -> None:
        """Called just before a stage computes its result (not for cached or skipped stages)."""

    def after_stage(self, event: StageEnded) -> None:
        """Called when a stage ends without failing: computed, taken from the cache, or skipped.

        ``event.result`` is the stage's result (``None`` when skipped) and
        ``event.context.results`` already holds it, so a hook can read any
        earlier result too.
        """

    def on_stage_error(self, event: StageFailed) -> None:
        """Called when a stage raised; ``event.exception`` is the exception, which the
        caller will receive unchanged after the hooks ran."""

    def after_pipeline(self, event: PipelineFinished) -> None:
        """Called once at the end of the run, whether it succeeded or failed."""


HOOK_EVENTS: dict[str, type[Event]] = {
    "before_pipeline": PipelineStarted,
    "before_stage": StageStarted,
    "after_stage": StageEnded,
    "on_stage_error": StageFailed,
    "after_pipeline": PipelineFinished,
}
"""Each hook name and the event type (subclasses included) that triggers it."""

HOOK_NAMES: tuple[str, ...] = tuple(HOOK_EVENTS)
_HOOK_PREFIXES = ("before_", "after_", "on_")
_PRIORITY_ATTR = "__panelml_hook_priority__"

F = TypeVar("F", bound=Callable[..., Any])


def hookimpl(*, priority: int) -> Callable[[F], F]:
    """Decorator giving one hook method its own priority (overrides the plugin's)."""

    def mark(func: F) -> F:
        setattr(func, _PRIORITY_ATTR, priority)
        return func

    return mark


@dataclass(frozen=True)
class HookImpl:
    """One registered hook method."""

    hook: str
    plugin_name: str
    priority: int
    index: int
    method: Callable[[Any], None]


def plugin_name(plugin: object) -> str:
    """The display name of a plugin: its ``name`` attribute, else its class name."""
    name = getattr(plugin, "name", "")
    return name if isinstance(name, str) and name else type(plugin).__name__


def validate_plugin(plugin: object, name: str | None = None) -> dict[str, Callable[[Any], None]]:
    """Check a plugin and return its hook methods by hook name.

    Raises :class:`HookValidationError` for a method that looks like a hook but
    is not one, a hook method with a wrong signature, or a plugin without hooks.
    """
    label = name or plugin_name(plugin)
    found: dict[str, Callable[[Any], None]] = {}
    for attr in dir(plugin):
        if attr.startswith("_"):
            continue
        try:
            value = getattr(plugin, attr)
        except AttributeError:
            continue
        if not callable(value):
            continue
        if attr in HOOK_EVENTS:
            if _is_unimplemented_spec(plugin, attr):
                continue
            _check_signature(label, attr, value)
            found[attr] = value
        elif attr.startswith(_HOOK_PREFIXES):
            raise HookValidationError(
                f"hook plugin {label!r} has a method {attr!r}, which is not a hook"
                f"{did_you_mean(attr, HOOK_NAMES)}; hooks are: {', '.join(HOOK_NAMES)} "
                "(rename it, or make it private with a leading underscore)"
            )
    if not found:
        raise HookValidationError(
            f"hook plugin {label!r} defines none of the hooks {', '.join(HOOK_NAMES)}"
        )
    return found


def _is_unimplemented_spec(plugin: object, attr: str) -> bool:
    """True when ``attr`` is the no-op spec method inherited from :class:`Hooks`."""
    func = getattr(type(plugin), attr, None)
    return func is not None and func is getattr(Hooks, attr)


def _check_signature(label: str, attr: str, method: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required_other = [
        p
        for p in params
        if p.kind == inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    varargs = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    if (len(positional) != 1 and not (varargs and not positional)) or required_other:
        raise HookValidationError(
            f"hook plugin {label!r}: method {attr!r} must take exactly one argument "
            f"besides self (the event), but its signature is {attr}{signature}"
        )


class HookManager:
    """Holds hook plugins in a deterministic order and calls them for bus events."""

    def __init__(self, *, strict: bool = False, reporter: Reporter | None = None) -> None:
        self.strict = strict
        self.reporter = reporter
        self._impls: list[HookImpl] = []
        self._plugins: list[tuple[str, object]] = []
        self._bus: EventBus | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- registration ----------------------------------------------------------
    def register(self, plugin: object, *, name: str | None = None) -> None:
        """Validate ``plugin`` and add its hook methods (see the module docstring)."""
        label = name or plugin_name(plugin)
        if any(existing is plugin for _, existing in self._plugins):
            raise HookValidationError(f"hook plugin {label!r} is already registered")
        methods = validate_plugin(plugin, label)
        base_priority = getattr(plugin, "priority", 0)
        if not isinstance(base_priority, int):
            raise HookValidationError(
                f"hook plugin {label!r}: 'priority' must be an int, found {base_priority!r}"
            )
        index = len(self._plugins)
        self._plugins.append((label, plugin))
        for hook, method in methods.items():
            priority = getattr(method, _PRIORITY_ATTR, base_priority)
            self._impls.append(HookImpl(hook, label, int(priority), index, method))

    @property
    def plugins(self) -> list[tuple[str, object]]:
        """Registered plugins as (name, object), in registration order."""
        return list(self._plugins)

    def order(self, hook: str) -> list[HookImpl]:
        """The methods called for ``hook``, in call order."""
        impls = [impl for impl in self._impls if impl.hook == hook]
        return sorted(impls, key=lambda impl: (-impl.priority, impl.index))

    def rows(self) -> list[tuple[str, int, str, int]]:
        """(hook, position, plugin, priority) for every hook method, in call order."""
        return [
            (hook, position, impl.plugin_name, impl.priority)
            for hook in HOOK_NAMES
            for position, impl in enumerate(self.order(hook), start=1)
        ]

    def describe(self) -> str:
        """The call order as a plain-text table (what ``panelml hooks`` prints)."""
        rows = self.rows()
        if not rows:
            return "no hook plugins registered"
        header = ("hook", "#", "plugin", "priority")
        cells = [header, *[(h, str(p), n, str(pr)) for h, p, n, pr in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in cells
        )

    # -- calling ---------------------------------------------------------------
    def attach(self, bus: EventBus, reporter: Reporter | None = None) -> None:
        """Subscribe to ``bus``; hook failures are reported on ``reporter``."""
        self.detach()
        self._bus = bus
        if reporter is not None:
            self.reporter = reporter
        self._unsubscribe = bus.subscribe(self.dispatch)

    def detach(self) -> None:
        """Stop listening to the bus attached last."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None
        self._bus = None

    def dispatch(self, event: Event) -> None:
        """Call every hook method that ``event`` triggers, isolating failures."""
        for hook, kind in HOOK_EVENTS.items():
            if not isinstance(event, kind):
                continue
            for impl in self.order(hook):
                try:
                    impl.method(event)
                except Exception as exc:
                    self._failed(impl, event, exc)

    def _failed(self, impl: HookImpl, event: Event, exc: Exception) -> None:
        where = f"{impl.plugin_name}.{impl.hook}"
        message = f"hook {where} failed on {type(event).__name__}: {exc!r}"
        if self.reporter is not None:
            self.reporter.warn(message + ("" if self.strict else "; the run goes on"))
        if self._bus is not None:
            self._bus.emit(
                HookFailed(
                    run_id=event.run_id,
                    hook=where,
                    plugin=impl.plugin_name,
                    during=type(event).__name__,
                    error=repr(exc),
                    exception=exc,
                )
            )
        if self.strict:
            raise HookError(f"{message} (runtime.strict_hooks is on)") from exc

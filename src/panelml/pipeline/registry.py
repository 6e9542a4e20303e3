"""Registry[T]: one way to find stages, model families and hook plugins.

Three sources, one lookup:

1. decorator registration (``@register_stage``) - the built-ins use it too;
2. installed packages' entry points (groups ``panelml.stages``,
   ``panelml.models``, ``panelml.hooks``), listed without importing and loaded
   only when a config names them;
3. a dotted path ``package.module:ClassName`` written directly in the YAML.

Unknown names are errors that list what exists and suggest the closest match;
registering two different objects under one name is an error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, overload

from panelml.pipeline.errors import UserError
from panelml.pipeline.suggest import did_you_mean as did_you_mean

T = TypeVar("T")


class RegistryError(UserError, LookupError):
    """A name could not be resolved, or a registration conflicts."""


def load_dotted(path: str) -> Any:
    """Import ``package.module:Attr`` (or ``package.module.Attr``)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise RegistryError(f"{path!r} is not a dotted path of the form 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistryError(
                f"module {module_name!r} has no attribute {attr!r} (from {path!r})"
            ) from None
    return obj


def is_dotted_path(ref: str) -> bool:
    """True for ``pkg.mod:Name`` references (a colon, or dots without spaces)."""
    return ":" in ref


class Registry(Generic[T]):
    """Named objects of one kind (``kind`` is used in messages, ``group`` is the
    entry-point group)."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}

    # -- registration ----------------------------------------------------------
    @overload
    def register(self, obj: T, *, name: str | None = None) -> T: ...

    @overload
    def register(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: T | None = None, *, name: str | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name`` (default: its ``name`` attribute).

        Usable as ``@registry.register`` or ``@registry.register(name="x")``.
        Registering the very same object again is a no-op; another object under
        a taken name is an error.
        """

        def add(item: T) -> T:
            key = name or getattr(item, "name", None)
            if not isinstance(key, str) or not key:
                raise RegistryError(
                    f"cannot register {item!r} as a {self.kind}: give it a string 'name' "
                    "attribute or pass name=..."
                )
            existing = self._items.get(key)
            if existing is not None and existing is not item:
                raise RegistryError(
                    f"duplicate {self.kind} name {key!r}: already registered by "
                    f"{_describe(existing)}, now also by {_describe(item)}; rename one of them"
                )
            self._items[key] = item
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove a registration (mainly for tests)."""
        self._items.pop(name, None)

    # -- lookup ----------------------------------------------------------------
    def entry_points(self) -> dict[str, EntryPoint]:
        """Installed entry points of this group, by name (nothing is imported)."""
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Every name this registry can resolve: registered and entry points."""
        return sorted(set(self._items) | set(self.entry_points()))

    def registered(self) -> dict[str, T]:
        """Objects registered so far (entry points not loaded)."""
        return dict(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, ref: str) -> T:
        """Resolve a name, an entry-point name, or a dotted path to the object."""
        if ref in self._items:
            return self._items[ref]
        if is_dotted_path(ref):
            obj: T = load_dotted(ref)
            return obj
        eps = self.entry_points()
        if ref in eps:
            try:
                loaded: T = eps[ref].load()
            except Exception as exc:
                raise RegistryError(
                    f"the {self.kind} {ref!r} from entry point {eps[ref].value!r} failed to "
                    f"load: {exc}"
                ) from exc
            return self._items.get(ref, loaded)
        available = self.names()
        raise RegistryError(
            f"unknown {self.kind} {ref!r}{did_you_mean(ref, available)}; "
            f"available: {', '.join(available) or 'none'}"
        )


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", "?")
    qual = getattr(obj, "__qualname__", type(obj).__qualname__)
    return f"{module}.{qual}"


stages: Registry[Any] = Registry("stage", "panelml.stages")
"""Registry of stage classes (``type[Stage]``)."""

hook_plugins: Registry[Any] = Registry("hook plugin", "panelml.hooks")
"""Registry of hook plugin classes or objects."""


def register_stage(cls: T) -> T:
    """Class decorator: register a :class:`~panelml.pipeline.stage.Stage` subclass."""
    stages.register(cls)
    return cls


def register_hook(obj: T) -> T:
    """Decorator: register a hook plugin class (or object) by its ``name``."""
    hook_plugins.register(obj)
    return obj

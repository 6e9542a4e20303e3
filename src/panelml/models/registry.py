"""Where model families are found by name.

Built-in families register with :func:`register_model` exactly like
third-party code; installed packages expose entry points in the
``panelml.models`` group; a config may also name a family by dotted path
(``package.module:MyFamily``). :func:`get_family` resolves all three.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from panelml.models.base import ModelFamily
from panelml.pipeline.registry import Registry, RegistryError, is_dotted_path
from panelml.pipeline.suggest import did_you_mean

F = TypeVar("F", bound=type[ModelFamily])

models: Registry[type[ModelFamily]] = Registry("model family", "panelml.models")
"""Registry of :class:`ModelFamily` subclasses, by their ``name``."""

BUILTIN_MODULES: tuple[str, ...] = (
    "panelml.models.lightgbm",
    "panelml.models.xgboost",
    "panelml.models.linear",
    "panelml.models.trees",
    "panelml.models.hist_gb",
    "panelml.models.catboost",
    "panelml.models.torch.mlp",
    "panelml.models.torch.gru",
)
"""Modules holding the built-in families. Importing them is cheap: each imports
its library (LightGBM, XGBoost, scikit-learn) only when a model is used."""

_builtins_loaded = False


def register_model(cls: F) -> F:
    """Class decorator: register a :class:`ModelFamily` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
        raise RegistryError(f"register_model expects a ModelFamily subclass, got {cls!r}")
    models.register(cls)
    return cls


def load_builtins() -> None:
    """Import the built-in family modules once, so that they register."""
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _builtins_loaded = True


def get_family(ref: str, *, allow_dotted: bool = True) -> type[ModelFamily]:
    """The family class for a registered name, an entry-point name, or a dotted path.

    ``allow_dotted=False`` resolves registered and entry-point names only: saved
    model folders are data, and a name read from them must never import code.
    Raises :class:`RegistryError` for unknown names (listing what exists) and
    for objects that are not :class:`ModelFamily` subclasses.
    """
    load_builtins()
    if not allow_dotted and (is_dotted_path(ref) or ref not in models.names()):
        available = models.names()
        raise RegistryError(
            f"unknown model family {ref!r}{did_you_mean(ref, available)}: only registered or "
            f"installed families can be loaded from a saved model; available: "
            f"{', '.join(available)}"
        )
    obj: object = models.get(ref)
    if not (isinstance(obj, type) and issubclass(obj, ModelFamily)):
        raise RegistryError(
            f"model family {ref!r} resolved to {obj!r}, which is not a subclass of "
            "panelml.models.ModelFamily; point it at a ModelFamily class"
        )
    return obj


def available_families() -> list[str]:
    """Every family name that can be resolved: built-in, registered, entry points."""
    load_builtins()
    return models.names()

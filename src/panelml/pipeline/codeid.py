"""Code identity for cache keys: which source and which libraries made a result.

A stage's ``version`` is bumped by hand and was not (seven commits changed the
ranking logic under ``version = "1"``), so the cache key also holds:

- ``panelml_source``: the sha256 over every ``.py`` file of the installed
  panelml package (relative path and bytes, in path order). Any change to
  panelml's code is a new key for every stage: coarse, but it can never serve a
  result of older code. Computed once per process (about 150 small files).
- ``stage_source``: the sha256 of the file that defines the stage's class,
  so a third-party stage outside the package is covered as well. Read at
  every key computation (one small file), so an edit is seen at once.
- ``libraries``: the versions of the numeric, data and model libraries (from
  package metadata: nothing is imported).
"""

from __future__ import annotations

import hashlib
import inspect
import platform
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = [
    "KEY_LIBRARIES",
    "code_identity",
    "installed_versions",
    "library_key_versions",
    "package_digest",
]

KEY_LIBRARIES = (
    "numpy",
    "polars",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "catboost",
    "torch",
)
"""Libraries whose version enters every cache key (when installed)."""

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_digest(root: Path) -> str:
    """sha256 over the relative path and bytes of every ``.py`` file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\x00")
        digest.update(path.read_bytes())
        digest.update(b"\x00")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def package_digest() -> str:
    """:func:`source_digest` of the panelml package, once per process."""
    return source_digest(PACKAGE_ROOT)


def _source_file(stage_class: type) -> str | None:
    """The file defining ``stage_class``: its module's file, else its ``run``'s code file."""
    try:
        found = inspect.getsourcefile(stage_class)
    except TypeError:
        found = None
    if found is None:
        code = getattr(getattr(stage_class, "run", None), "__code__", None)
        found = getattr(code, "co_filename", None)
    return found if isinstance(found, str) else None


def stage_source_digest(stage_class: type) -> str | None:
    """sha256 of the source file defining ``stage_class`` (``None`` if it has none)."""
    source = _source_file(stage_class)
    if source is None:
        return None
    try:
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except OSError:
        return None


@lru_cache(maxsize=8)
def installed_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of each installed distribution of ``names``, from
    package metadata (nothing is imported), read once per process: each lookup
    scans the installed distributions (about 1.5 ms), and every cache key and
    saved model asks."""
    out = []
    for name in names:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            continue
    return tuple(out)


def library_key_versions() -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of python and each installed :data:`KEY_LIBRARIES` entry."""
    return (("python", platform.python_version()), *installed_versions(KEY_LIBRARIES))


def code_identity(stage_class: type) -> dict[str, Any]:
    """The code part of a stage's cache key (see the module docstring)."""
    return {
        "panelml_source": package_digest(),
        "stage_source": stage_source_digest(stage_class),
        "libraries": dict(library_key_versions()),
    }

"""The example plugin package's stage passes the stage conformance kit (CI runs
its own test file without installing the package)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin_package"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def plugin_tests() -> Iterator[ModuleType]:
    """The plugin's own conformance test module, with the plugin importable."""
    names = ("panelml_example_plugin", "panelml_example_plugin_conformance")
    saved = {n: sys.modules.get(n) for n in names}
    _load(names[0], PLUGIN / "src" / "panelml_example_plugin" / "__init__.py")
    try:
        yield _load(names[1], PLUGIN / "tests" / "test_conformance.py")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_example_plugin_stage_passes_the_kit(plugin_tests: ModuleType, tmp_path: Path) -> None:
    plugin_tests.test_row_count_passes_the_stage_kit(tmp_path)

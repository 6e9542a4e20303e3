"""Registry: decorator registration, duplicates, unknown names, dotted paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from panelml.pipeline import registry
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import Registry, RegistryError


def test_decorator_registers_by_name_and_duplicates_are_errors(toy_stages: Any) -> None:
    alpha = toy_stages[0]
    assert registry.stages.get("alpha") is alpha
    registry.register_stage(alpha)  # the very same object again: fine

    class Other:
        name = "alpha"

    with pytest.raises(RegistryError, match="duplicate stage name 'alpha'"):
        registry.register_stage(Other)


def test_unknown_name_lists_what_exists_and_suggests(toy_stages: Any) -> None:
    with pytest.raises(RegistryError) as info:
        registry.stages.get("alhpa")
    message = str(info.value)
    assert "unknown stage 'alhpa' (did you mean 'alpha'?)" in message
    available = message.split("available: ", 1)[1].split(", ")
    assert available == sorted(available) and {"alpha", "beta", "gamma"} <= set(available)
    assert isinstance(info.value, UserError)


def test_dotted_path_resolves_without_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dotted_mod_for_registry.py").write_text("class Thing:\n    name = 'thing'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[Any] = Registry("thing", "panelml.tests.none")
    assert reg.get("dotted_mod_for_registry:Thing").__name__ == "Thing"
    with pytest.raises(RegistryError, match="has no attribute 'Nope'"):
        reg.get("dotted_mod_for_registry:Nope")
    with pytest.raises(RegistryError, match="cannot import module"):
        reg.get("no_such_module_xyz:Thing")

"""Finding model families: names, dotted paths, errors, cheap imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from panelml.models import ModelFamily, available_families, get_family, models, register_model
from panelml.models.lightgbm import LightGBMFamily
from panelml.models.linear import RidgeFamily
from panelml.pipeline.registry import RegistryError

NOT_A_FAMILY = object()


class PluginRidge(RidgeFamily):
    name = "test_plugin_ridge"


@pytest.fixture
def plugin() -> Iterator[type[ModelFamily]]:
    register_model(PluginRidge)
    yield PluginRidge
    models.unregister(PluginRidge.name)


def test_builtins_resolve_by_name() -> None:
    assert get_family("lightgbm") is LightGBMFamily
    assert get_family("ridge") is RidgeFamily
    assert {"lightgbm", "xgboost", "ridge", "lasso", "elastic_net"} <= set(available_families())
    assert {"random_forest", "extra_trees", "hist_gb"} <= set(available_families())


def test_third_party_registration_uses_the_same_decorator(plugin: type[ModelFamily]) -> None:
    assert get_family("test_plugin_ridge") is plugin
    assert "test_plugin_ridge" in available_families()


def test_dotted_path_resolves_a_class() -> None:
    assert get_family("panelml.models.linear:LassoFamily").name == "lasso"


def test_dotted_path_to_a_non_family_is_a_clear_error() -> None:
    with pytest.raises(RegistryError, match=r"not a subclass of panelml\.models\.ModelFamily"):
        get_family(f"{__name__}:NOT_A_FAMILY")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(RegistryError, match=r"did you mean 'lightgbm'\?.*available: "):
        get_family("lightgmb")


def test_register_model_rejects_non_families() -> None:
    with pytest.raises(RegistryError, match="ModelFamily subclass"):
        register_model(dict)  # type: ignore[type-var]


def test_duplicate_name_is_an_error() -> None:
    class Impostor(RidgeFamily):
        name = "ridge"

    with pytest.raises(RegistryError, match="duplicate model family name 'ridge'"):
        register_model(Impostor)


def test_importing_the_package_and_family_modules_is_cheap() -> None:
    code = (
        "import sys, panelml.models, panelml.models.lightgbm, panelml.models.xgboost;"
        "from panelml.models import available_families; available_families();"
        "heavy = [m for m in ('lightgbm', 'xgboost', 'sklearn') if m in sys.modules];"
        "print(heavy)"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src), "PATH": ""},
    )
    assert out.stdout.strip() == "[]"

"""Every built-in model family passes the conformance kit, for both tasks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from panelml.models import available_families, get_family
from panelml.models.base import Task
from panelml.models.linear import RidgeFamily
from panelml.testing import ModelFamilyConformance, check_model_family

# Smaller ensembles and one thread keep the kit fast on a shared 2-core machine;
# the defaults themselves are exercised in tests/models/.
FAST_PARAMS: dict[str, dict[str, object]] = {
    "lightgbm": {"n_estimators": 60, "num_threads": 1},
    "xgboost": {"n_estimators": 60, "nthread": 1},
    "hist_gb": {"max_iter": 60, "n_threads": 1},
    "random_forest": {"n_estimators": 30},
    "extra_trees": {"n_estimators": 30},
}

BUILTINS = (
    "lightgbm",
    "xgboost",
    "ridge",
    "lasso",
    "elastic_net",
    "random_forest",
    "extra_trees",
    "hist_gb",
)


def test_every_builtin_is_available() -> None:
    assert set(BUILTINS) <= set(available_families())


@pytest.mark.parametrize("task", ["regression", "binary"])
@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_passes_conformance(name: str, task: Task, tmp_path: Path) -> None:
    if name == "xgboost":
        pytest.importorskip("xgboost")
    check_model_family(get_family(name), task=task, tmp_path=tmp_path, params=FAST_PARAMS.get(name))


class TestRidgeThroughTheBaseClass(ModelFamilyConformance):
    """The pytest base class that plugin authors subclass works as documented."""

    family = RidgeFamily
    params: ClassVar[Mapping[str, Any] | None] = {"alpha": 2.0}
    tasks: ClassVar[tuple[Task, ...]] = ("regression",)

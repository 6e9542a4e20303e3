"""Model capabilities are declared on the family class and honoured by the stages'
helpers: thread control (``runtime_params``) and multi-target fits (``supports_fit_many``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pytest

from panelml.models.base import FloatArray, ModelFamily, thread_count
from panelml.models.registry import available_families, get_family, models
from panelml.stages.fitting import runtime_params
from panelml.stages.ranking._fit import uses_fit_many


class ThirdParty(ModelFamily):
    """A plugin family whose library takes ``workers`` and ``exact``."""

    name: ClassVar[str] = "third_party_toy"

    @classmethod
    def runtime_params(
        cls, n_jobs: int, deterministic: bool, user_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"workers": thread_count(n_jobs), "exact": deterministic}

    def fit(self, X: FloatArray, y: FloatArray, **kwargs: Any) -> Self:
        return self

    def predict(self, X: FloatArray) -> npt.NDArray[np.float64]:
        return np.zeros(len(X))

    def importance(
        self, kind: str | None = None, *, X: FloatArray | None = None
    ) -> npt.NDArray[np.float64]:
        return np.zeros(1)

    def save(self, directory: Path) -> None:
        pass

    @classmethod
    def load(cls, directory: Path) -> Self:
        return cls()


def test_a_third_party_familys_runtime_params_are_honoured() -> None:
    assert runtime_params(ThirdParty, {}, n_jobs=3, deterministic=True) == {
        "workers": 3,
        "exact": True,
    }
    # the user's own setting wins
    assert runtime_params(ThirdParty, {"workers": 8}, n_jobs=3, deterministic=False) == {
        "exact": False
    }


def test_a_registered_third_party_family_is_found_by_name() -> None:
    models.register(ThirdParty)
    try:
        assert runtime_params("third_party_toy", {}, n_jobs=2, deterministic=False) == {
            "workers": 2,
            "exact": False,
        }
    finally:
        models.unregister("third_party_toy")


def test_default_is_no_runtime_params() -> None:
    assert runtime_params("ridge", {}, n_jobs=4, deterministic=True) == {}


@pytest.mark.parametrize(
    ("family", "deterministic", "expected"),
    [
        ("lightgbm", False, {"num_threads": 2}),
        ("lightgbm", True, {"num_threads": 2, "deterministic": True, "force_col_wise": True}),
        ("xgboost", True, {"nthread": 2}),
        ("hist_gb", False, {"n_threads": 2}),
    ],
)
def test_builtin_boosters_declare_their_thread_keys(
    family: str, deterministic: bool, expected: dict[str, Any]
) -> None:
    assert runtime_params(family, {}, n_jobs=2, deterministic=deterministic) == expected
    assert runtime_params(family, {}, n_jobs=-1, deterministic=False) != {}


def test_supports_fit_many_matches_an_override_of_fit_many() -> None:
    """The declaration replaced an identity check on ``fit_many``; they must agree for
    every built-in family (a declared but missing override would fit targets one by one
    inside a grouped path, an undeclared override would be ignored)."""
    for name in available_families():
        family = get_family(name)
        overrides = family.fit_many.__func__ is not ModelFamily.fit_many.__func__  # type: ignore[attr-defined]
        assert family.supports_fit_many is overrides, name
        assert uses_fit_many(family) is overrides
    assert get_family("ridge").supports_fit_many and not get_family("lightgbm").supports_fit_many


def test_a_name_the_registry_does_not_know_gets_no_settings() -> None:
    """A family loaded by dotted path is known to the caller by class, not by name."""
    assert runtime_params("third_party_toy", {}, n_jobs=2, deterministic=True) == {}

"""The conformance kit catches broken families (not only passes good ones)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from panelml.models import models, register_model
from panelml.models.linear import RidgeFamily
from panelml.testing import conformance as kit


class Pickler(RidgeFamily):
    name = "test_kit_pickler"

    def save(self, directory: Path) -> None:
        super().save(directory)
        (Path(directory) / "model.bin").write_bytes(pickle.dumps(self.coef_))


class Noisy(RidgeFamily):
    name = "test_kit_noisy"

    def predict(self, X: Any) -> npt.NDArray[np.float64]:
        return super().predict(X) + np.random.default_rng().normal(scale=1e-9, size=len(X))


class Signed(RidgeFamily):
    name = "test_kit_signed"

    def importance(self, kind: str | None = None, *, X: Any = None) -> npt.NDArray[np.float64]:
        assert self.coef_ is not None
        return self.coef_.copy()


class Unregistered(RidgeFamily):
    name = "test_kit_unregistered"


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    for cls in (Pickler, Noisy, Signed):
        register_model(cls)
    yield
    for cls in (Pickler, Noisy, Signed):
        models.unregister(cls.name)


def test_pickle_files_are_caught(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="pickle stream"):
        kit.check_save_load(Pickler, "regression", tmp_path)


def test_nondeterminism_is_caught() -> None:
    with pytest.raises(AssertionError, match="not deterministic"):
        kit.check_deterministic(Noisy, "regression")


def test_negative_importances_are_caught() -> None:
    with pytest.raises(AssertionError, match="negative"):
        kit.check_importances(Signed, "regression")


def test_unregistered_families_are_caught() -> None:
    with pytest.raises(AssertionError, match="@register_model"):
        kit.check_registered(Unregistered)


def test_discrete_data_makes_subsets_share_every_level() -> None:
    X, _ = kit.make_data("regression", discrete=True, nan_fraction=0.0)
    head = X[:1500]
    for j in range(X.shape[1]):
        assert set(np.unique(head[:, j])) == set(np.unique(X[:, j]))


class Memoriser(RidgeFamily):
    """Recalls the label of every row it was fitted on and guesses elsewhere: perfect
    in-sample, no skill out of sample."""

    name = "test_kit_memoriser"

    def fit(self, X: Any, y: Any, **kwargs: Any) -> Memoriser:
        super().fit(X, y, **kwargs)
        self._seen = {row.tobytes(): float(v) for row, v in zip(X, y, strict=True)}
        return self

    def predict(self, X: Any) -> npt.NDArray[np.float64]:
        rng = np.random.default_rng(0)
        return np.array([self._seen.get(row.tobytes(), rng.normal()) for row in X])


def test_a_family_that_does_not_learn_fails_the_held_out_check() -> None:
    """It would pass a check scored on its fit rows (correlation 1 there)."""
    with pytest.raises(AssertionError, match="held-out rows do not follow"):
        kit.check_fit_predict(Memoriser, "regression")
    kit.check_fit_predict(RidgeFamily, "regression")  # a learner passes the same check

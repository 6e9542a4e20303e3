"""The benchmark's fit timer still wraps the calls where model work happens.

``bench/pipeline.py`` charges time inside these calls to the fit floor; when a
refactor moves the work to a method the timer does not know (it once looked up
a method the linear families no longer define and every bench side failed),
the overhead ratio it reports is wrong or the bench does not run. This test
installs the timer and checks that each kind of model work is counted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panelml.models.base import PreparedData
from panelml.models.lightgbm import LightGBMFamily
from panelml.models.linear import LinearFamily, RidgeFamily

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def timer() -> Iterator[Any]:
    sys.path.insert(0, str(BENCH))
    try:
        from _instrument import FitTimer

        installed = FitTimer().install()
        yield installed
        installed.uninstall()
    finally:
        sys.path.remove(str(BENCH))


def test_every_kind_of_model_work_is_counted(timer: Any) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3_000, 8)).astype(np.float32)
    Y = X[:, :2].astype(np.float64) @ np.ones((2, 3)) + rng.standard_normal((3_000, 3))
    rows = np.arange(2_000)

    RidgeFamily.fit_many_prepared(PreparedData(X), rows, Y)
    assert timer.seconds["own_model"] > 0
    before = timer.seconds["own_model"]
    RidgeFamily("regression").fit_prepared(PreparedData(X), rows, Y[:, 0])
    assert timer.seconds["own_model"] > before

    params = {"n_estimators": 5}
    prepared = LightGBMFamily.prepare(X, params)
    model = LightGBMFamily("regression", params).fit_prepared(prepared, rows, Y[:, 0])
    model.predict_prepared(prepared, np.arange(2_000, 3_000))
    assert timer.seconds["binning"] > 0
    assert timer.seconds["fit"] > 0
    assert timer.seconds["predict"] > 0


def test_uninstall_restores_the_methods() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from _instrument import FitTimer

        original = vars(LinearFamily)["_fit_many_rows"]
        installed = FitTimer().install()
        assert vars(LinearFamily)["_fit_many_rows"] is not original
        installed.uninstall()
        assert vars(LinearFamily)["_fit_many_rows"] is original
    finally:
        sys.path.remove(str(BENCH))

"""mlp and gru families: conformance, scaling from fit rows, losses, devices, saving."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from panelml.models import devices
from panelml.models.base import RowIndex
from panelml.pipeline.errors import UserError
from panelml.testing import ModelFamilyConformance, make_data

torch = pytest.importorskip("torch")

from panelml.models.torch.gru import GRUFamily, HistoryError  # noqa: E402
from panelml.models.torch.mlp import MLPFamily  # noqa: E402

TINY = {
    "max_iter": 8,
    "early_stopping_rounds": 3,
    "learning_rate": 0.02,
    "batch_timestamps": 4,
    "device": "cpu",
    "num_threads": 1,
}
MLP_TINY = {**TINY, "hidden_sizes": [16], "dropout": 0.0}
GRU_TINY = {**TINY, "lookback": 3, "hidden_size": 8}


class TestMLPConformance(ModelFamilyConformance):
    family = MLPFamily
    params = MLP_TINY


class TestGRUConformance(ModelFamilyConformance):
    family = GRUFamily
    params = GRU_TINY


def test_scalers_come_from_the_fit_rows_only() -> None:
    X, y = make_data("regression", n_rows=600)
    X[400:] += 100.0  # the early-stopping rows are shifted: they must not move the scalers
    model = MLPFamily("regression", {**MLP_TINY, "max_iter": 1})
    model.fit(X[:400], y[:400], eval_set=(X[400:], y[400:]), seed=0)
    np.testing.assert_allclose(model.scalers_["mean"], np.nanmean(X[:400], axis=0), atol=1e-5)


def test_ic_loss_is_minus_the_mean_per_timestamp_correlation() -> None:
    from panelml.models.torch._train import ic_loss

    rng = np.random.default_rng(0)
    pred, y = rng.standard_normal(60), rng.standard_normal(60)
    groups = np.repeat(np.arange(3), 20)
    want = -np.mean([np.corrcoef(pred[groups == g], y[groups == g])[0, 1] for g in range(3)])
    got = ic_loss(torch, torch.tensor(pred), torch.tensor(y), torch.tensor(groups))
    assert float(got) == pytest.approx(want, abs=1e-9)


def test_unknown_loss_is_a_config_error() -> None:
    X, y = make_data("regression", n_rows=200)
    with pytest.raises(UserError, match=r"family_params\.mlp\.loss"):
        MLPFamily("regression", {**MLP_TINY, "loss": "bce"}).fit(X, y)


def test_saved_as_a_state_dict_and_json_architecture(tmp_path: Path) -> None:
    X, y = make_data("regression", n_rows=400)
    model = GRUFamily("regression", GRU_TINY).fit(X, y, seed=1)
    model.save(tmp_path)
    record = json.loads((tmp_path / "family.json").read_text())
    assert record["architecture"]["lookback"] == 3 and record["device"] == "cpu"
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_auto_falls_back_to_the_cpu_with_one_warning() -> None:
    X, y = make_data("regression", n_rows=200)
    MLPFamily.check_params("regression", {**MLP_TINY, "device": "auto"})  # a silent dry run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's default: once per message and place
        for _ in range(2):
            model = MLPFamily("regression", {**MLP_TINY, "device": "auto", "max_iter": 1})
            model.fit(X, y)
    fallback = [w for w in caught if issubclass(w.category, devices.DeviceFallbackWarning)]
    if torch.cuda.is_available():
        assert model.device_ == "cuda" and not fallback
    else:
        assert model.device_ == "cpu"
        assert len(fallback) == 1 and "runs on the CPU because" in str(fallback[0].message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is usable here")
def test_cuda_without_a_gpu_is_a_config_error() -> None:
    X, y = make_data("regression", n_rows=200)
    with pytest.raises(UserError, match=r"device 'cuda'.*family_params\.gru\.device"):
        GRUFamily("regression", {**GRU_TINY, "device": "cuda"}).fit(X, y)


def _panel_index(n_symbols: int, n_times: int) -> RowIndex:
    times = np.repeat(np.arange(n_times), n_symbols).astype(np.int64)
    symbols = np.tile(np.arange(n_symbols), n_times).astype(np.int64)
    return RowIndex(symbols, times, tuple(f"S{i}" for i in range(n_symbols)))


def test_gru_predictions_are_point_in_time() -> None:
    """Truncating the data after time t leaves every prediction at or before t
    unchanged (a window that read a later bar would change). Unchanged up to
    float32 rounding: torch may batch the two calls' windows differently
    (torch 2.13 differs by 1.4e-7 here), while reading a later bar moves a
    prediction by about the size of the feature's effect, 0.1 or more, and
    changing the row's own last bar (below) moves it by more than 1e-3."""
    rng = np.random.default_rng(0)
    index = _panel_index(5, 40)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    y = X[:, 0].astype(np.float64) + rng.standard_normal(200)
    prepared = GRUFamily.prepare_indexed(X, index)
    model = GRUFamily("regression", GRU_TINY).fit_prepared(prepared, np.arange(150), y, seed=0)
    full = model.predict_prepared(prepared, np.arange(200))
    keep = np.flatnonzero(index.times <= 25)
    cut = GRUFamily.prepare_indexed(X[keep], index.take(keep))
    np.testing.assert_allclose(
        model.predict_prepared(cut, np.arange(keep.size)), full[keep], rtol=0, atol=1e-5
    )
    # the row's own last bar does matter: changing it changes the prediction
    X2 = X.copy()
    X2[keep[-1]] += 5.0
    moved = model.predict_prepared(GRUFamily.prepare_indexed(X2, index), keep[-1:])
    assert abs(moved[0] - full[keep[-1]]) > 1e-3


def test_gru_predict_on_new_data_needs_the_history() -> None:
    rng = np.random.default_rng(1)
    index = _panel_index(3, 10)
    X = rng.standard_normal((30, 4)).astype(np.float32)
    model = GRUFamily("regression", GRU_TINY).fit(X, rng.standard_normal(30), seed=0)
    out = model.predict_indexed(X, index)
    assert np.isnan(out[index.times < 2]).all() and np.isfinite(out[index.times >= 2]).all()
    recent = np.flatnonzero(index.times >= 9)  # one bar per symbol: no history
    with pytest.raises(HistoryError, match=r"last 3 bars.*symbol S\d.*at least 3 bars"):
        model.predict_indexed(X[recent], index.take(recent))

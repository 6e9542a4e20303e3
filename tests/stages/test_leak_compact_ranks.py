"""The leakage screen's compact rank store gives the numbers of the plain float64 one.

:class:`~panelml.stages.leakage._ranks.CrossSections` keeps every feature's
centred ranks doubled, as small integers, and expands them to floats a few
timestamps or features at a time. Each piece is checked here against the
straightforward computation it replaced - the whole grid ranked at once in
float64, the percentile ranks kept as one float64 matrix - on panels with
missing values, ties and ragged timestamps (several blocks): the stored ranks,
the rank products (float32 and float64 kernels), the percentile expansion and
the prefilter's norms bit for bit, the prefilter's products to rounding. Every
chunk-size and kernel threshold is taken on both sides, with identical IC
series and reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from panelml.data.synthetic import make_panel
from panelml.stages.leakage import LeakageScreenParams, _rank_grid, screen_panel
from panelml.stages.leakage._ranks import CrossSections
from panelml.validation.metrics import ICSeries
from panelml.validation.ranks import average_ranks

F64 = npt.NDArray[np.float64]


def _ragged(seed: int = 3) -> tuple[F64, npt.NDArray[np.int64], F64]:
    """Cross-sections of 3 to 300 names (blocks; one wider than the float32 kernel's
    limit), missing values, ties, an all-missing feature at some timestamps."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 14, 80)
    sizes[::20] = 300
    sizes[5] = 40
    ts = np.repeat(np.arange(80), sizes)
    X = rng.normal(size=(ts.size, 7))
    X[rng.random(X.shape) < 0.08] = np.nan
    X[:, 2] = np.round(X[:, 2])  # ties
    X[:, 3] = np.round(X[:, 3] * 0.3)  # many ties, middle ranks
    X[ts % 7 == 0, 4] = np.nan  # no value at all at some timestamps
    X[:, 5] = np.where(rng.random(ts.size) < 0.5, 1.0, X[:, 5])  # a heavy tie
    y = X[:, 0] + rng.normal(size=ts.size)
    y[rng.random(ts.size) < 0.05] = np.nan
    return X, ts, y


def _dense() -> tuple[F64, npt.NDArray[np.int64], F64]:
    """A balanced panel (one block) with a few missing values and ties."""
    panel = make_panel(n_symbols=30, n_timestamps=100, hard_cases=True, leaks=True, seed=5)
    p = panel.to_panel()
    y = np.asarray(p.targets[p.target_names[0]], dtype=np.float64)
    return np.asarray(p.X, dtype=np.float64), np.asarray(p.timestamps), y


def _on_grid(values: F64, pos: npt.NDArray[np.int64]) -> F64:
    out = values[np.maximum(pos, 0)]
    pad = (pos < 0).reshape(pos.shape + (1,) * (out.ndim - pos.ndim))
    out[pad | ~np.isfinite(out)] = np.nan
    return out


def _plain_centred(X: F64, pos: npt.NDArray[np.int64]) -> tuple[F64, npt.NDArray[np.int64]]:
    """The former store: every feature ranked at once, centred ranks in float64."""
    grid = np.ascontiguousarray(
        np.transpose(_on_grid(np.asarray(X, dtype=np.float64), pos), (0, 2, 1))
    )
    ranks, counts = average_ranks(grid)
    mid = (counts[..., None] + 1) / 2.0
    return np.where(np.isnan(ranks), 0.0, ranks - mid), counts


def _plain_percentiles(X: F64, pos: npt.NDArray[np.int64], keep: Any) -> F64:
    """The former cached ``px``: (features, groups * slots), float64."""
    grid = np.transpose(_on_grid(np.asarray(X, dtype=np.float64), pos), (0, 2, 1))
    finite = ~np.isnan(grid)
    centred, n = _plain_centred(X, pos)
    ranks = np.where(finite, centred + (n[..., None] + 1) / 2.0, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ranks - 0.5) / n[..., None] - 0.5
    px = np.where(np.isfinite(r), r, 0.0)
    if keep is not None:
        px[~np.broadcast_to(keep[:, None, :], px.shape)] = 0.0
    n_groups, n_features, width = px.shape
    return np.transpose(px, (1, 0, 2)).reshape(n_features, n_groups * width)


def _plain_pooled(sections: CrossSections, labels: Sequence[F64]) -> tuple[F64, F64, F64]:
    """(num, den_x, den_y) of the prefilter from the whole float64 ``px`` matrix."""
    n_features = int(sections.X.shape[1])
    num = np.zeros((n_features, len(labels)))
    den_x = np.zeros_like(num)
    den_y = np.zeros_like(num)
    for block in sections.blocks:
        keep = None
        if sections.pooled_keep is not None:
            keep = sections.pooled_keep[np.maximum(block.pos, 0)] & (block.pos >= 0)
        px = _plain_percentiles(sections.X, block.pos, keep)
        slots = block.pos.reshape(-1) >= 0
        for k, v in enumerate(labels):
            grid = _on_grid(np.asarray(v, dtype=np.float64), block.pos)
            ranks, n = average_ranks(grid)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = (ranks - 0.5) / n[..., None] - 0.5
            py = np.where(np.isfinite(r), r, 0.0).reshape(-1)
            known = np.isfinite(grid).reshape(-1)
            num[:, k] += px @ py
            kept = px[:, slots & known]
            den_x[:, k] += np.einsum("fi,fi->f", kept, kept)
            den_y[:, k] += ((px != 0.0) & slots).astype(np.float64) @ (py * py)
    return num, den_x, den_y


def _same_series(got: dict[int, ICSeries], want: dict[int, ICSeries]) -> None:
    assert list(got) == list(want)
    for j in got:
        np.testing.assert_array_equal(got[j].timestamps, want[j].timestamps)
        np.testing.assert_array_equal(got[j].n_names, want[j].n_names)
        np.testing.assert_array_equal(got[j].values, want[j].values)
        assert got[j].n_skipped == want[j].n_skipped


CASES = {"ragged": _ragged(), "dense": _dense()}


@pytest.mark.parametrize("case", list(CASES))
def test_stored_ranks_are_the_plain_float64_ranks(case: str) -> None:
    X, ts, _ = CASES[case]
    sections = CrossSections(X, ts, 3, slice(None))
    if case == "ragged":
        assert len(sections.blocks) > 1
        assert max(b.pos.shape[1] for b in sections.blocks) > _rank_grid.FLOAT32_WIDTH
    for block in sections.blocks:
        centred, counts = _plain_centred(X, block.pos)
        assert block.doubled.dtype == np.int16
        np.testing.assert_array_equal(block.doubled * 0.5, centred)
        np.testing.assert_array_equal(block.n_finite, counts)
        np.testing.assert_array_equal(block.sxx, np.einsum("gfw,gfw->gf", centred, centred))
        cols = np.arange(X.shape[1])
        label = centred[:, 1, :]  # any centred ranks will do as a label
        want = np.matmul(centred, label[:, :, None])[..., 0]
        np.testing.assert_array_equal(block.rank_products(cols, label), want)
        np.testing.assert_array_equal(block.rank_products(cols[::-2], label), want[:, ::-2])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("with_keep", [False, True])
def test_percentile_expansion_and_prefilter_match_the_float64_matrix(
    case: str, with_keep: bool
) -> None:
    X, ts, y = CASES[case]
    keep = None
    if with_keep:
        keep = np.random.default_rng(1).random(ts.size) < 0.3  # most cells zeroed: dense path
    sections = CrossSections(X, ts, 3, slice(None), keep)
    for block in sections.blocks:
        cell_keep = None if keep is None else keep[np.maximum(block.pos, 0)] & (block.pos >= 0)
        want = _plain_percentiles(X, block.pos, cell_keep)
        n_features = X.shape[1]
        np.testing.assert_array_equal(block.percentiles(slice(0, n_features), cell_keep), want)
        np.testing.assert_array_equal(block.percentiles(slice(2, 5), cell_keep), want[2:5])
        slots = np.flatnonzero(np.arange(block.pos.size) % 3 == 1)
        np.testing.assert_array_equal(
            block.percentiles_at(slots, cell_keep, slice(1, n_features)), want[1:, slots]
        )
    labels = [y, np.roll(y, 1), np.roll(y, -2), np.where(np.arange(y.size) % 2 == 0, np.nan, y)]
    got = sections.pooled_rank_corr(labels)
    num, den_x, den_y = _plain_pooled(sections, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        want_corr = np.abs(num) / (np.sqrt(den_x) * np.sqrt(den_y))
    assert np.isfinite(want_corr).sum() > 0.8 * want_corr.size
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want_corr))
    np.testing.assert_allclose(got, want_corr, rtol=1e-12, atol=1e-15)


def _everything(X: F64, ts: npt.NDArray[np.int64], y: F64, keep: Any) -> Any:
    sections = CrossSections(X, ts, 3, slice(None), keep)
    cols = list(range(X.shape[1]))
    labels = [y, np.roll(y, 3)]
    return (
        sections.many(cols, y),
        sections.many(cols[1::2], np.roll(y, 1)),
        [sections.percentile_ranks(j) for j in cols],
        sections.pooled_rank_corr(labels),
        sections.pooled_rank_corr(labels),  # cached norms
    )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("with_keep", [False, True])
def test_chunk_sizes_and_kernels_do_not_change_a_bit(
    case: str, with_keep: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides of every threshold: one value (one row) per chunk or all at once,
    for ranking and for expansion; float32 rank products for no cross-section or
    for every one."""
    X, ts, y = CASES[case]
    keep = np.random.default_rng(2).random(ts.size) < 0.6 if with_keep else None
    base = _everything(X, ts, y, keep)
    for chunk, width in ((1, 0), (37, 10**6), (10**9, _rank_grid.FLOAT32_WIDTH)):
        monkeypatch.setattr(_rank_grid, "CHUNK_VALUES", chunk)
        monkeypatch.setattr(_rank_grid, "RANK_CHUNK_VALUES", chunk)
        monkeypatch.setattr(_rank_grid, "FLOAT32_WIDTH", width)
        other = _everything(X, ts, y, keep)
        _same_series(other[0], base[0])
        _same_series(other[1], base[1])
        for a, b in zip(other[2], base[2], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(other[3], base[3])
        np.testing.assert_array_equal(other[4], base[3])


def test_report_identical_whatever_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = make_panel(n_symbols=30, n_timestamps=100, hard_cases=True, leaks=True, seed=2)
    p = panel.to_panel()
    for params in (LeakageScreenParams(), LeakageScreenParams(max_rows_per_timestamp=12)):
        base = screen_panel(p, params, target_patterns=["fwd_*"], seed=4)
        assert base.height > 0
        monkeypatch.setattr(_rank_grid, "CHUNK_VALUES", 50)
        monkeypatch.setattr(_rank_grid, "RANK_CHUNK_VALUES", 7)
        monkeypatch.setattr(_rank_grid, "FLOAT32_WIDTH", 0)
        assert screen_panel(p, params, target_patterns=["fwd_*"], seed=4).equals(base)
        monkeypatch.undo()

"""Feature selection's rank machinery: the per-panel ranks reused across targets give
the very blocks a fresh ranking gives, and the univariate rank IC read from a
block equals the batched exact IC.

Two generator designs (the default complete grid; the hard-case design with
missing values, ragged symbols and targets missing inside timestamps, so part of
every block is ranked afresh) and several targets each. The block comparison is
exact (the cached path must not change a single value); the IC comparison
allows 1e-7 absolute, while a block IC taken over the wrong rows or a fold mean
over the wrong timestamps moves the |mean IC| of signal columns by more than
1e-3.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from panelml.data.synthetic import make_panel
from panelml.stages.fitting import Fold, plan_folds, target_rows
from panelml.stages.selection import _additive
from panelml.stages.selection._additive import (
    BlockEquations,
    additive_rank_fit,
    fitted_values,
    normal_equations,
    partial_rank_importance,
    whole_block,
)
from panelml.stages.selection._importance import (
    mean_rank_ic,
    shadow_matrix,
    univariate_importance,
)
from panelml.stages.selection._rank_block import RankBlock, panel_ranks, rank_block
from panelml.validation.spec import ValidationConfig


@pytest.mark.parametrize(("hard", "seed"), [(False, 0), (True, 1), (True, 2)])
def test_cached_blocks_and_block_ics_equal_the_fresh_exact_ones(hard: bool, seed: int) -> None:
    panel = make_panel(hard_cases=hard, seed=seed, n_symbols=40, n_timestamps=150).to_panel()
    rng = np.random.default_rng(seed)
    columns = np.arange(panel.X.shape[1])
    X_aug = np.ascontiguousarray(np.hstack([panel.X, shadow_matrix(panel, columns, rng)]))
    ranks = panel_ranks(X_aug, panel.timestamp_index)
    for target in list(panel.targets)[:3]:
        y, rows = panel.targets[target], target_rows(panel, target)
        cached = rank_block(X_aug, y, panel.timestamps, rows, 5, ranks)
        fresh = rank_block(X_aug, y, panel.timestamps, rows, 5)
        np.testing.assert_array_equal(cached.rows, fresh.rows)
        np.testing.assert_array_equal(cached.z, fresh.z)
        np.testing.assert_array_equal(cached.target, fresh.target)
        np.testing.assert_array_equal(cached.design(), fresh.design())
        if not hard:  # complete grid, labels missing only at the end: a view, no copy
            assert np.shares_memory(cached.z, ranks.z) and not cached.z.flags.writeable
        folds = plan_folds(panel, target, ValidationConfig(), rows)
        exact = np.array(
            [
                [abs(mean_rank_ic(X_aug[f.train, j], y[f.train], panel.timestamps[f.train], 5))
                 for j in range(X_aug.shape[1])]
                for f in folds
            ]
        )  # fmt: skip
        batched = univariate_importance(X_aug, y, panel.timestamps, rows, folds, 5)
        from_block = univariate_importance(X_aug, y, panel.timestamps, rows, folds, 5, cached)
        np.testing.assert_allclose(batched, exact, rtol=0, atol=1e-12)
        np.testing.assert_allclose(from_block, exact, rtol=0, atol=1e-7)


def test_block_ics_skip_the_timestamps_where_a_column_is_constant() -> None:
    """A column constant in some cross-sections has no rank IC there: those
    timestamps are left out of its mean (as the exact per-column IC does), not
    counted as 0. Here column 0 is constant at 30 of 150 timestamps and column 1
    at two of every three; counting the constant timestamps as zeros would
    shrink column 0's mean by about a fifth and column 1's by a factor of 3, far
    beyond the 1e-7 tolerance."""
    panel = make_panel(seed=3, n_symbols=40, n_timestamps=150).to_panel()
    X = panel.X.copy()
    codes = panel.timestamp_index
    X[(codes >= 40) & (codes < 70), 0] = 1.5
    X[codes % 3 != 0, 1] = -2.0
    rng = np.random.default_rng(3)
    columns = np.arange(X.shape[1])
    panel.X = X
    X_aug = np.ascontiguousarray(np.hstack([X, shadow_matrix(panel, columns, rng)]))
    ranks = panel_ranks(X_aug, codes)
    target = next(iter(panel.targets))
    y, rows = panel.targets[target], target_rows(panel, target)
    block = rank_block(X_aug, y, panel.timestamps, rows, 5, ranks)
    folds = plan_folds(panel, target, ValidationConfig(), rows)
    from_block = univariate_importance(X_aug, y, panel.timestamps, rows, folds, 5, block)
    exact = np.array(
        [
            [abs(mean_rank_ic(X_aug[f.train, j], y[f.train], panel.timestamps[f.train], 5))
             for j in (0, 1, 2)]
            for f in folds
        ]
    )  # fmt: skip
    assert (exact[:, :2] > 0).all()
    np.testing.assert_allclose(from_block[:, :3], exact, rtol=0, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_additive_fit_from_the_whole_block_equals_the_direct_fit(seed: int) -> None:
    """A fold's coefficients from the whole block's normal equations minus those
    of the rows it leaves out (with and without the folds' test blocks kept as
    segments) equal the direct float64 least squares on its rows to 1e-5 (the
    stage's float32 block is multiplied in float32 and summed in float64:
    measured 6e-7 on these collinear hard-case features), in small
    row chunks; leaving out the wrong rows moves them by ~1e-2, 1,000 times the
    tolerance."""
    block, folds = _hard_block(seed)
    for whole in (whole_block(block), whole_block(block, [fold.test for fold in folds])):
        _check_folds(block, folds, whole)


def _check_folds(block: RankBlock, folds: Sequence[Fold], whole: BlockEquations) -> None:
    n = block.n_columns
    for fold in folds:
        inside = np.isin(block.rows, fold.train)
        Z, t = block.design(inside).astype(np.float64), block.target[inside]
        gram = Z.T @ Z + 1e-3 * inside.sum() * np.eye(Z.shape[1])
        direct = np.linalg.solve(gram, Z.T @ t)
        fitted = additive_rank_fit(block, fold.train, whole=whole)
        assert fitted is not None
        np.testing.assert_allclose(fitted, direct, rtol=0, atol=1e-5)
        np.testing.assert_allclose(
            partial_rank_importance(block, fold.train),
            np.hypot(direct[:n], direct[n:]),
            rtol=0,
            atol=1e-5,
        )


def _hard_block(seed: int) -> tuple[RankBlock, list[Fold]]:
    panel = make_panel(hard_cases=True, seed=seed, n_symbols=40, n_timestamps=150).to_panel()
    rng = np.random.default_rng(seed)
    columns = np.arange(panel.X.shape[1])
    X_aug = np.ascontiguousarray(np.hstack([panel.X, shadow_matrix(panel, columns, rng)]))
    target = next(iter(panel.targets))
    y, rows = panel.targets[target], target_rows(panel, target)
    block = rank_block(X_aug, y, panel.timestamps, rows, 5)
    return block, list(plan_folds(panel, target, ValidationConfig(), rows))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fold_reads_its_test_block_from_the_segments(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a fold leaves out are its test block (read from the segments of
    :func:`whole_block`) and its purge and embargo rows, the only ones multiplied
    again: exactly the left-out rows less the test block (a fold that multiplied
    its test rows again would count them too). Their equations equal the direct
    ones to 1e-4 of the largest entry: they are float32 products summed in
    another order, and BLAS kernels accumulate differently (7e-6 measured with
    OpenBLAS's AVX-512 kernel, below 1e-6 with its AVX2 one), while a missing or
    doubled segment is off by about a fifth of the whole, 2,000 times the
    tolerance."""
    block, folds = _hard_block(seed)
    whole = whole_block(block, [fold.test for fold in folds])
    direct = normal_equations(block, np.arange(block.rows.size))
    scale = np.abs(direct.gram).max()
    np.testing.assert_allclose(whole.whole.gram, direct.gram, rtol=0, atol=1e-4 * scale)
    multiplied: list[int] = []
    real = _additive.normal_equations

    def counting(b: RankBlock, rows: np.ndarray) -> _additive.NormalEquations:
        multiplied.append(int(rows.size))
        return real(b, rows)

    monkeypatch.setattr(_additive, "normal_equations", counting)
    for fold in folds:
        rest = np.flatnonzero(~np.isin(block.rows, fold.train))
        test = np.isin(block.rows, fold.test).sum()
        multiplied.clear()
        left = whole.left_out(block, rest)
        assert left.n == rest.size
        assert sum(multiplied) == rest.size - test < test
        expected = real(block, rest)
        np.testing.assert_allclose(left.gram, expected.gram, rtol=0, atol=1e-4 * scale)
        np.testing.assert_allclose(left.moment, expected.moment, rtol=0, atol=1e-4 * scale)


def test_fitted_values_equal_the_design_times_the_coefficients() -> None:
    """:func:`fitted_values` (z and z**2 products, the -1 as one offset) equals
    ``[z, z**2 - 1] @ coef`` in float64 to 1e-5 (float32 products of standardised
    ranks; a dropped offset is off by sum(b_z2), above 0.1 here)."""
    block, _ = _hard_block(0)
    n = block.n_columns
    coef = np.random.default_rng(0).normal(scale=0.05, size=2 * n)
    coef[n:] += 0.01
    expected = block.design().astype(np.float64) @ coef
    np.testing.assert_allclose(fitted_values(block, coef), expected, rtol=0, atol=1e-5)
    assert abs(coef[n:].sum()) > 0.1

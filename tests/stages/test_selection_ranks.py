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

import numpy as np
import pytest

from panelml.data.synthetic import make_panel
from panelml.stages.fitting import plan_folds, target_rows
from panelml.stages.selection._additive import (
    additive_rank_fit,
    partial_rank_importance,
    whole_block,
)
from panelml.stages.selection._importance import (
    mean_rank_ic,
    shadow_matrix,
    univariate_importance,
)
from panelml.stages.selection._rank_block import panel_ranks, rank_block
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


@pytest.mark.parametrize("seed", [0, 1])
def test_additive_fit_from_the_whole_block_equals_the_direct_fit(seed: int) -> None:
    """A fold's coefficients from the whole block's normal equations minus those
    of the rows it leaves out equal the direct float64 least squares on its
    rows to 1e-5 (the stage's float32 block is multiplied in float32 and summed
    in float64: measured 6e-7 on these collinear hard-case features), in small
    row chunks; leaving out the wrong rows moves them by ~1e-2, 1,000 times the
    tolerance."""
    panel = make_panel(hard_cases=True, seed=seed, n_symbols=40, n_timestamps=150).to_panel()
    rng = np.random.default_rng(seed)
    columns = np.arange(panel.X.shape[1])
    X_aug = np.ascontiguousarray(np.hstack([panel.X, shadow_matrix(panel, columns, rng)]))
    target = next(iter(panel.targets))
    y, rows = panel.targets[target], target_rows(panel, target)
    block = rank_block(X_aug, y, panel.timestamps, rows, 5)
    whole = whole_block(block)
    for fold in plan_folds(panel, target, ValidationConfig(), rows):
        inside = np.isin(block.rows, fold.train)
        Z, t = block.design(inside).astype(np.float64), block.target[inside]
        gram = Z.T @ Z + 1e-3 * inside.sum() * np.eye(Z.shape[1])
        direct = np.linalg.solve(gram, Z.T @ t)
        fitted = additive_rank_fit(block, fold.train, whole=whole)
        assert fitted is not None
        np.testing.assert_allclose(fitted, direct, rtol=0, atol=1e-5)
        n = X_aug.shape[1]
        np.testing.assert_allclose(
            partial_rank_importance(block, fold.train),
            np.hypot(direct[:n], direct[n:]),
            rtol=0,
            atol=1e-5,
        )

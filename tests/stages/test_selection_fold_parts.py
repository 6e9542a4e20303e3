"""A (target, fold)'s two task parts merge into one set of importances."""

from __future__ import annotations

import numpy as np

from panelml.stages.selection._fold_parts import FoldImportances, by_target_and_fold


def test_parts_merge_per_target_and_fold_in_fold_order() -> None:
    oof = np.array([0.5, -0.5])
    models = [FoldImportances(k, {"lgb_gain": np.full(3, float(k))}, oof + k) for k in range(2)]
    block = [FoldImportances(k, {"partial": np.full(3, 10.0 + k)}, None) for k in range(2)]
    keys = [("a", 0), ("a", 1), ("a", 0), ("a", 1)]
    # parts arrive models first, then block; folds are listed in reverse to check the order
    found = by_target_and_fold(keys, [*models, *block], [("a", 1), ("a", 0)])
    assert [part.index for part in found["a"]] == [1, 0]
    for part in found["a"]:
        k = part.index
        assert sorted(part.raw) == ["lgb_gain", "partial"]
        np.testing.assert_array_equal(part.raw["lgb_gain"], np.full(3, float(k)))
        np.testing.assert_array_equal(part.raw["partial"], np.full(3, 10.0 + k))
        assert part.oof is not None
        np.testing.assert_array_equal(part.oof, oof + k)


def test_a_single_part_passes_through() -> None:
    only = FoldImportances(0, {"lgb_gain": np.ones(2)}, None)
    assert by_target_and_fold([("t", 0)], [only], [("t", 0)]) == {"t": [only]}

"""Combinatorial purged cross-validation (CPCV, AFML ch. 12 on ch. 7's purging).

The splitter of ``validation.scheme: cpcv``, with the backtest paths that
stitch its splits' out-of-sample predictions together. The purging rule is the
one of :mod:`panelml.validation.splitters` (which re-exports the class).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation._purging import (
    TimestampSplitter,
    check_int,
    make_blocks,
    merge_segments,
    purged_train_mask,
)
from panelml.validation.timestamps import Int64Array, timestamp_index

__all__ = ["CombinatorialPurgedCV"]


class CombinatorialPurgedCV(TimestampSplitter):
    """Combinatorial purged cross-validation (CPCV, AFML ch. 12 on ch. 7's purging).

    The unique timestamps are cut into ``n_groups`` contiguous groups; each of the
    C(N, k) splits tests ``k = n_test_groups`` of them. Adjacent test groups merge
    into one segment, and each segment is purged and embargoed on its own::

        group      g0    g1    g2    g3    g4      N=5, k=2, split (g1, g3),
        timestamp  0123  4567  89..  ..15  ..19    4 timestamps a group, h=2, e=1
        split      TTTp  XXXX  peTp  XXXX  peTT    T train, X test, p purged, e embargo

    Every group is tested in C(N-1, k-1) splits, which gives
    ``n_paths = k C(N, k) / N`` full backtest paths: ``paths()`` says which split
    supplies each group's predictions on each path, and ``assemble_paths``
    stitches out-of-sample predictions into those paths.
    """

    def __init__(
        self, n_groups: int = 6, n_test_groups: int = 2, horizon: int = 1, embargo: int = 0
    ) -> None:
        check_int("n_groups", n_groups, 2)
        check_int("n_test_groups", n_test_groups, 1)
        check_int("horizon", horizon, 1)
        check_int("embargo", embargo, 0)
        if n_test_groups >= n_groups:
            raise ValueError(f"n_test_groups must be < n_groups, got {n_test_groups} >= {n_groups}")
        self.n_groups = int(n_groups)
        self.n_test_groups = int(n_test_groups)
        self.horizon = int(horizon)
        self.embargo = int(embargo)

    @property
    def combinations(self) -> list[tuple[int, ...]]:
        """Test groups of every split, in the order ``split`` yields them."""
        return list(combinations(range(self.n_groups), self.n_test_groups))

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return math.comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """k C(N, k) / N = C(N-1, k-1) backtest paths."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def _plan(self, n_timestamps: int) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
        if n_timestamps < self.n_groups:
            raise ValueError(
                f"CombinatorialPurgedCV: n_groups={self.n_groups} needs at least as many unique "
                f"timestamps, got {n_timestamps}; lower n_groups"
            )
        blocks = make_blocks(n_timestamps, self.n_groups)
        plan = []
        for combo in self.combinations:
            segments = merge_segments([blocks[g] for g in combo])
            test = np.zeros(n_timestamps, dtype=bool)
            for a, b in segments:
                test[a : b + 1] = True
            train = purged_train_mask(n_timestamps, segments, self.horizon, self.embargo) & ~test
            if not train.any():
                raise ValueError(
                    f"CombinatorialPurgedCV: split testing groups {combo} has no training "
                    f"timestamp left after purging horizon={self.horizon} and "
                    f"embargo={self.embargo}; lower "
                    "horizon, embargo or n_test_groups, or use more timestamps"
                )
            plan.append((train, test))
        return plan

    def paths(self) -> npt.NDArray[np.int64]:
        """(n_paths, n_groups): the split index whose test predictions fill each group.

        Path p takes, for group g, the p-th split (in ``split`` order) that tests g,
        so each split's test groups are used exactly once across all paths.
        """
        out = np.empty((self.n_paths, self.n_groups), dtype=np.int64)
        seen = np.zeros(self.n_groups, dtype=np.int64)
        for s, combo in enumerate(self.combinations):
            for g in combo:
                out[seen[g], g] = s
                seen[g] += 1
        return out

    def groups(self, n_timestamps: int) -> Int64Array:
        """The group (0 .. n_groups-1) of each of ``n_timestamps`` timestamps."""
        out = np.empty(n_timestamps, dtype=np.int64)
        for g, (a, b) in enumerate(make_blocks(n_timestamps, self.n_groups)):
            out[a : b + 1] = g
        return out

    def test_paths(self, n_timestamps: int) -> list[Int64Array]:
        """Per split (in ``split`` order): the path each timestamp's test prediction
        belongs to, -1 where the split does not test the timestamp.

        Split s tests groups ``combinations[s]``; its prediction for group g fills
        group g of the path p with ``paths()[p, g] == s``.
        """
        blocks = make_blocks(n_timestamps, self.n_groups)
        table = self.paths()
        out = []
        for s, combo in enumerate(self.combinations):
            path = np.full(n_timestamps, -1, dtype=np.int64)
            for g in combo:
                a, b = blocks[g]
                path[a : b + 1] = int(np.flatnonzero(table[:, g] == s)[0])
            out.append(path)
        return out

    def assemble_paths(
        self, predictions: Sequence[npt.ArrayLike], groups: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Stitch out-of-sample predictions into (n_paths, n_rows) backtest paths.

        ``predictions[s]`` holds split s's predictions, aligned with the test rows
        that ``split`` yielded for it (sorted row order).
        """
        codes, _ = timestamp_index(groups)
        n_timestamps = int(codes.max()) + 1 if codes.size else 0
        if len(predictions) != self.get_n_splits():
            raise ValueError(
                f"assemble_paths needs one prediction array per split ({self.get_n_splits()}), "
                f"got {len(predictions)}"
            )
        group_of_ts = np.empty(n_timestamps, dtype=np.int64)
        for g, (a, b) in enumerate(make_blocks(n_timestamps, self.n_groups)):
            group_of_ts[a : b + 1] = g
        row_group = group_of_ts[codes]
        out = np.full((self.n_paths, codes.size), np.nan)
        path_table = self.paths()
        for s, combo in enumerate(self.combinations):
            pred = np.asarray(predictions[s], dtype=np.float64)
            test_rows = np.flatnonzero(np.isin(row_group, combo))
            if pred.shape != test_rows.shape:
                raise ValueError(
                    f"predictions[{s}] has shape {pred.shape}, expected {test_rows.shape} "
                    "(one value per test row of that split)"
                )
            for g in combo:
                p = int(np.flatnonzero(path_table[:, g] == s)[0])
                in_g = row_group[test_rows] == g
                out[p, test_rows[in_g]] = pred[in_g]
        return out

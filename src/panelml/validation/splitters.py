"""Leakage-safe splits of panel data: purged k-fold, walk-forward and CPCV.

All splitters follow scikit-learn's protocol (``split(X, y, groups)``,
``get_n_splits``) so any tool that accepts a ``cv`` object accepts them;
``groups`` carries the per-row timestamps and is required. Blocks are made of
unique timestamps, never rows, so a cross-section is never split between
train and test.

The rule, after López de Prado, *Advances in Financial Machine Learning*
(AFML) ch. 7. Timestamps are indexed 0..T-1; a label at t covers (t, t+h]. For
every contiguous test segment [a, b]:

- a training timestamp t < a is kept iff t + h <= a (purge);
- a training timestamp t > b is kept iff t >= b + h + e (purge + embargo e).

Horizon and embargo are counted in unique timestamps (bars), not in rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.validation._purging import (
    Segment,
    Splitter,
    TimestampSplitter,
    check_int,
    make_blocks,
    purged_train_mask,
)
from panelml.validation.cpcv import CombinatorialPurgedCV
from panelml.validation.spec import ValidationConfig
from panelml.validation.timestamps import Int64Array, timestamp_index

__all__ = [
    "CombinatorialPurgedCV",
    "PurgedKFold",
    "Splitter",
    "WalkForward",
    "inner_validation_split",
    "make_splitter",
    "resolve_embargo",
]


class PurgedKFold(TimestampSplitter):
    """K-fold over contiguous blocks of unique timestamps, purged and embargoed.

    Each fold tests one block [a, b]; training keeps the timestamps on both sides
    whose labels cannot overlap a test label (AFML ch. 7, 7.4.1-7.4.2)::

        timestamp  0  1  2  3  4  5  6  7  8  9    h=2, e=1, test block a=4..b=5
        fold       T  T  T  p  X  X  p  e  T  T    T train, X test,
                                                   p purged, e embargoed
        before a: keep t iff t + h <= a      (label (t, t+h] ends by a)
        after b:  keep t iff t >= b + h + e  (no overlap with (b, b+h], plus e bars)

    Blocks tile the unique timestamps with sizes differing by at most one, so
    test blocks partition the timestamps and hold whole cross-sections.
    Horizon and embargo are in bars (unique timestamps). A fold left with no
    training timestamp raises ``ValueError`` naming what to lower.
    """

    def __init__(self, n_splits: int = 5, horizon: int = 1, embargo: int = 0) -> None:
        check_int("n_splits", n_splits, 2)
        check_int("horizon", horizon, 1)
        check_int("embargo", embargo, 0)
        self.n_splits = int(n_splits)
        self.horizon = int(horizon)
        self.embargo = int(embargo)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _plan(self, n_timestamps: int) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
        if n_timestamps < self.n_splits:
            raise ValueError(
                f"PurgedKFold: n_splits={self.n_splits} needs at least as many unique "
                f"timestamps, got {n_timestamps}; lower n_splits"
            )
        plan = []
        for i, (a, b) in enumerate(make_blocks(n_timestamps, self.n_splits)):
            train = purged_train_mask(n_timestamps, [(a, b)], self.horizon, self.embargo)
            test = np.zeros(n_timestamps, dtype=bool)
            test[a : b + 1] = True
            train &= ~test
            if not train.any():
                raise ValueError(
                    f"PurgedKFold: fold {i} (test timestamps {a}..{b} of {n_timestamps}) has no "
                    f"training timestamp left after purging horizon={self.horizon} and "
                    f"embargo={self.embargo}; lower horizon, embargo or n_splits, "
                    "or use more timestamps"
                )
            plan.append((train, test))
        return plan


class WalkForward(TimestampSplitter):
    """Out-of-sample tests on the last ``n_splits`` blocks, training on the past only.

    ::

        timestamp  0 ................................. T-1
        split 0    [train........]  gap [test0]
        split 1    [train...............]  gap [test1]
        split 2    [train.....................]  gap [test2]
                   (rolling: only the last max_train kept timestamps)

    For a test block starting at a, training keeps t with t + h + e <= a: the
    purge rule of AFML ch. 7 (label (t, t+h] ends by a) widened by the embargo,
    applied here as a gap before the test block. Past-only training needs no
    embargo after the test; applying it as a gap keeps the distance between
    training and test equal to the one purged k-fold leaves after its test
    blocks, so both schemes are equally strict.

    Sizing: without ``min_train`` the timestamps are cut into ``n_splits + 1``
    blocks and the first one is the initial training span (as scikit-learn's
    ``TimeSeriesSplit``). With ``min_train`` the first test block starts right
    after ``min_train`` usable training timestamps plus the gap, and the rest is
    cut into ``n_splits`` test blocks. ``expanding=True`` trains on all the past;
    ``max_train`` caps the window at that many timestamps (rolling). With
    ``expanding=False`` and no ``max_train`` the window is the first split's
    training length, so every split trains on the same number of timestamps.
    """

    def __init__(
        self,
        n_splits: int = 5,
        horizon: int = 1,
        embargo: int = 0,
        expanding: bool = True,
        max_train: int | None = None,
        min_train: int | None = None,
    ) -> None:
        check_int("n_splits", n_splits, 1)
        check_int("horizon", horizon, 1)
        check_int("embargo", embargo, 0)
        if max_train is not None:
            check_int("max_train", max_train, 1)
        if min_train is not None:
            check_int("min_train", min_train, 1)
        self.n_splits = int(n_splits)
        self.horizon = int(horizon)
        self.embargo = int(embargo)
        self.expanding = bool(expanding)
        self.max_train = max_train
        self.min_train = min_train

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _test_blocks(self, n_timestamps: int) -> list[Segment]:
        gap = self.horizon + self.embargo
        if self.min_train is not None:
            start = self.min_train - 1 + gap
        else:
            start = n_timestamps - self.n_splits * (n_timestamps // (self.n_splits + 1))
        if n_timestamps - start < self.n_splits or n_timestamps < self.n_splits + 1:
            raise ValueError(
                f"WalkForward: {n_timestamps} unique timestamps cannot hold an initial training "
                f"span and n_splits={self.n_splits} test blocks (min_train={self.min_train}, "
                f"horizon={self.horizon}, embargo={self.embargo}); lower them "
                "or use more timestamps"
            )
        return make_blocks(n_timestamps, self.n_splits, start)

    def _plan(self, n_timestamps: int) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
        blocks = self._test_blocks(n_timestamps)
        gap = self.horizon + self.embargo
        window = self.max_train
        if not self.expanding and window is None:
            window = blocks[0][0] - gap + 1
        plan = []
        for i, (a, b) in enumerate(blocks):
            last = a - gap  # last kept training timestamp
            if last < 0:
                raise ValueError(
                    f"WalkForward: split {i} (test timestamps {a}..{b}) has no earlier training "
                    f"timestamp once horizon={self.horizon} and embargo={self.embargo} are left "
                    "as a gap; lower horizon, embargo or n_splits, or raise min_train"
                )
            first = 0 if window is None else max(0, last - window + 1)
            train = np.zeros(n_timestamps, dtype=bool)
            train[first : last + 1] = True
            test = np.zeros(n_timestamps, dtype=bool)
            test[a : b + 1] = True
            plan.append((train, test))
        return plan


def inner_validation_split(
    train_rows: npt.ArrayLike,
    timestamps: npt.ArrayLike,
    horizon: int,
    fraction: float = 0.2,
    embargo: int = 0,
) -> tuple[Int64Array, Int64Array]:
    """Split a fold's training rows into (fit_rows, val_rows) for early stopping.

    Rule: validation is the latest ``fraction`` of the training rows' unique
    timestamps (at least one), wherever they lie - with purged k-fold that may be
    after the outer test block. Fit rows are the training rows whose label ends,
    plus the embargo, by the first validation timestamp v: t + h + e <= v. So
    every early-stopping row lies strictly after every fit row's label window
    (the AFML ch. 7 purge applied inside the fold). ``timestamps`` are the
    panel's per-row timestamps (all rows, so bars are counted on the whole
    panel); ``train_rows`` index into them. Returns sorted int64 row indices.
    """
    check_int("horizon", horizon, 1)
    check_int("embargo", embargo, 0)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rows = np.asarray(train_rows, dtype=np.int64)
    if not bool(np.all(rows[1:] > rows[:-1])):  # the stages pass sorted unique rows
        rows = np.unique(rows)
    codes, _ = timestamp_index(timestamps)
    train_codes = codes[rows]
    if bool(np.all(train_codes[1:] >= train_codes[:-1])):  # panel rows: sorted by time
        unique_train = train_codes[np.r_[True, train_codes[1:] != train_codes[:-1]]]
    else:
        unique_train = np.unique(train_codes)
    if unique_train.size < 2:
        raise ValueError("inner_validation_split needs training rows on at least 2 timestamps")
    n_val = max(1, math.ceil(fraction * unique_train.size))
    first_val = int(unique_train[-n_val])
    val_rows = rows[train_codes >= first_val]
    fit_rows = rows[train_codes + horizon + embargo <= first_val]
    if fit_rows.size == 0:
        raise ValueError(
            "inner_validation_split: no fit rows left before the validation block "
            f"(horizon={horizon}, embargo={embargo}, fraction={fraction}); "
            "lower fraction, horizon or embargo"
        )
    return fit_rows, val_rows


def resolve_embargo(cfg: ValidationConfig, n_timestamps: int) -> int:
    """Embargo in bars: ``cfg.embargo`` when given, else floor(embargo_pct * T) (AFML 7.4.2)."""
    if cfg.embargo is not None:
        return int(cfg.embargo)
    return math.floor(cfg.embargo_pct * n_timestamps)


def make_splitter(
    cfg: ValidationConfig, horizon: int, n_timestamps: int
) -> PurgedKFold | WalkForward | CombinatorialPurgedCV:
    """The splitter the ``validation:`` section asks for, purged by this target's horizon
    (``cpcv``: ``n_splits`` groups, ``n_test_groups`` of them tested per split)."""
    embargo = resolve_embargo(cfg, n_timestamps)
    if cfg.scheme == "walk_forward":
        return WalkForward(n_splits=cfg.n_splits, horizon=horizon, embargo=embargo)
    if cfg.scheme == "cpcv":
        return CombinatorialPurgedCV(
            n_groups=cfg.n_splits,
            n_test_groups=cfg.n_test_groups,
            horizon=horizon,
            embargo=embargo,
        )
    return PurgedKFold(n_splits=cfg.n_splits, horizon=horizon, embargo=embargo)

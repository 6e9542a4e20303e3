"""Purging machinery shared by the splitters (AFML ch. 7): blocks, masks, row mapping.

Splits are planned on unique-timestamp indices (cheap, and checked before any
row is touched), then mapped to rows through the per-row timestamp codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from panelml.validation.timestamps import Int64Array, timestamp_index

Segment = tuple[int, int]  # inclusive (first, last) unique-timestamp index


class Splitter(Protocol):
    """What stages need from a splitter (scikit-learn's CV protocol)."""

    def split(
        self, X: Any = None, y: Any = None, groups: npt.ArrayLike | None = None
    ) -> Iterator[tuple[Int64Array, Int64Array]]: ...

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int: ...


def check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def purged_train_mask(
    n_timestamps: int, segments: Sequence[Segment], horizon: int, embargo: int
) -> npt.NDArray[np.bool_]:
    """Unique timestamps kept for training around the given test segments."""
    t = np.arange(n_timestamps)
    keep = np.ones(n_timestamps, dtype=bool)
    for a, b in segments:
        before_ok = t + horizon <= a
        after_ok = t >= b + horizon + embargo
        keep &= before_ok | after_ok
    return keep


def merge_segments(blocks: Sequence[Segment]) -> list[Segment]:
    """Merge sorted, adjacent blocks into maximal contiguous segments."""
    merged: list[Segment] = []
    for a, b in sorted(blocks):
        if merged and merged[-1][1] + 1 == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def make_blocks(n_timestamps: int, n_blocks: int, start: int = 0) -> list[Segment]:
    """``n_blocks`` contiguous blocks over [start, T) whose sizes differ by at most one."""
    edges = [start + (i * (n_timestamps - start)) // n_blocks for i in range(n_blocks + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(n_blocks)]


class TimestampSplitter:
    """Shared machinery: plan splits on timestamp indices, then map them to rows."""

    horizon: int
    embargo: int

    def _plan(self, n_timestamps: int) -> list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
        """(train mask, test mask) over unique timestamps for every split."""
        raise NotImplementedError

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        raise NotImplementedError

    def timestamp_splits(self, n_timestamps: int) -> list[tuple[Int64Array, Int64Array]]:
        """(train, test) unique-timestamp indices for a panel with T timestamps."""
        return [
            (np.flatnonzero(tr).astype(np.int64), np.flatnonzero(te).astype(np.int64))
            for tr, te in self._plan(n_timestamps)
        ]

    def split(
        self, X: Any = None, y: Any = None, groups: npt.ArrayLike | None = None
    ) -> Iterator[tuple[Int64Array, Int64Array]]:
        """Yield (train_rows, test_rows): sorted int64 row indices.

        ``groups`` is the per-row timestamp (any sortable values; rows need not be
        sorted). Every split is planned, and checked, before the first is yielded.
        """
        codes = _codes_from_groups(X, groups, type(self).__name__)
        n_timestamps = int(codes.max()) + 1 if codes.size else 0
        plan = self._plan(n_timestamps)
        for train_ts, test_ts in plan:
            yield (
                np.flatnonzero(train_ts[codes]).astype(np.int64),
                np.flatnonzero(test_ts[codes]).astype(np.int64),
            )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _codes_from_groups(X: Any, groups: npt.ArrayLike | None, who: str) -> Int64Array:
    if groups is None:
        raise ValueError(
            f"{who}.split needs groups=<per-row timestamps> so that blocks are made of "
            "whole timestamps; pass groups=panel.timestamps"
        )
    codes, _ = timestamp_index(groups)
    if X is not None:
        n_rows = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        if n_rows != codes.size:
            raise ValueError(
                f"{who}.split: X has {n_rows} rows but groups has {codes.size} timestamps"
            )
    return codes

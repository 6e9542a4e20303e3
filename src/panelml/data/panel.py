"""Panel: the one in-memory representation of panel data that every stage reads.

Rows are sorted by (timestamp, symbol). Features are one C-contiguous float32
matrix; targets are float64 columns (NaN where missing); timestamps are int64
(for datetime inputs: nanoseconds since the epoch; ``timestamp_dtype`` records
the original type so outputs can be written back in it); symbols are int32
codes into ``symbols``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

TargetKind = Literal["regression", "binary"]


@dataclass
class DataReport:
    """What loading did to the data, for the user and the report."""

    n_rows_read: int = 0
    dropped_targets: dict[str, str] = field(default_factory=dict)  # name -> reason
    infinite_values: dict[str, int] = field(default_factory=dict)  # column -> count set to NaN
    warnings: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Panel:
    """Panel data in memory. See the module docstring for the layout."""

    X: npt.NDArray[np.float32]
    feature_names: tuple[str, ...]
    targets: dict[str, npt.NDArray[np.float64]]
    horizons: dict[str, int]
    target_kinds: dict[str, TargetKind]
    timestamps: npt.NDArray[np.int64]
    symbol_codes: npt.NDArray[np.int32]
    symbols: tuple[str, ...]
    fingerprint: str
    timestamp_dtype: str = "int64"
    report: DataReport = field(default_factory=DataReport)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(self.targets)

"""Panel: the one in-memory representation of panel data that every stage reads.

Rows are sorted by (timestamp, symbol). Features are one C-contiguous float32
matrix; targets are float64 columns (NaN where missing); timestamps are int64
(for datetime inputs: nanoseconds since the epoch; ``timestamp_dtype`` records
the original type so outputs can be written back in it); symbols are int32
codes into ``symbols``, the sorted unique symbol names (as strings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from panelml.data.errors import DataError, did_you_mean
from panelml.data.fingerprint import panel_fingerprint
from panelml.data.timestamps import decode_timestamps

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
    """Panel data in memory. See the module docstring for the layout.

    ``fingerprint`` is :func:`panelml.data.fingerprint.panel_fingerprint` of the
    content; build Panels with :func:`panelml.data.panel_from_frame`,
    :func:`panelml.data.load_panel` or :meth:`Panel.build` so it is right.
    """

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
    symbol_column: str = "symbol"
    timestamp_column: str = "timestamp"
    source: str = "<frame>"

    @classmethod
    def build(
        cls,
        *,
        X: npt.NDArray[np.float32],
        feature_names: Sequence[str],
        targets: dict[str, npt.NDArray[np.float64]],
        horizons: dict[str, int],
        target_kinds: dict[str, TargetKind],
        timestamps: npt.NDArray[np.int64],
        symbol_codes: npt.NDArray[np.int32],
        symbols: Sequence[str],
        timestamp_dtype: str = "int64",
        report: DataReport | None = None,
        symbol_column: str = "symbol",
        timestamp_column: str = "timestamp",
        source: str = "<frame>",
    ) -> Panel:
        """A Panel from arrays already in the layout above, with its fingerprint computed."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        timestamps = np.ascontiguousarray(timestamps, dtype=np.int64)
        symbol_codes = np.ascontiguousarray(symbol_codes, dtype=np.int32)
        targets = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in targets.items()}
        fingerprint = panel_fingerprint(
            X=X,
            feature_names=feature_names,
            targets=targets,
            horizons=horizons,
            target_kinds=target_kinds,
            timestamps=timestamps,
            symbol_codes=symbol_codes,
            symbols=symbols,
            timestamp_dtype=timestamp_dtype,
        )
        return cls(
            X=X,
            feature_names=tuple(feature_names),
            targets=targets,
            horizons=dict(horizons),
            target_kinds=dict(target_kinds),
            timestamps=timestamps,
            symbol_codes=symbol_codes,
            symbols=tuple(symbols),
            fingerprint=fingerprint,
            timestamp_dtype=timestamp_dtype,
            report=report if report is not None else DataReport(n_rows_read=int(X.shape[0])),
            symbol_column=symbol_column,
            timestamp_column=timestamp_column,
            source=source,
        )

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def target_names(self) -> tuple[str, ...]:
        return tuple(self.targets)

    @cached_property
    def unique_timestamps(self) -> npt.NDArray[np.int64]:
        """The distinct timestamps, ascending (int64, as in ``timestamps``)."""
        if self.n_rows == 0:
            return np.empty(0, dtype=np.int64)
        starts = np.flatnonzero(np.diff(self.timestamps, prepend=self.timestamps[0] - 1))
        return np.ascontiguousarray(self.timestamps[starts])

    @cached_property
    def timestamp_index(self) -> npt.NDArray[np.int64]:
        """Dense codes 0..T-1 per row: the position of the row's timestamp in
        ``unique_timestamps``. Splitters cut on these, never on rows."""
        if self.n_rows == 0:
            return np.empty(0, dtype=np.int64)
        changes = np.diff(self.timestamps) != 0
        index = np.zeros(self.n_rows, dtype=np.int64)
        np.cumsum(changes, out=index[1:])
        return index

    @property
    def n_timestamps(self) -> int:
        return int(self.unique_timestamps.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def feature_indices(self, names: Iterable[str]) -> npt.NDArray[np.int64]:
        """Column positions in ``X`` of ``names``, in the order given."""
        position = {name: i for i, name in enumerate(self.feature_names)}
        out: list[int] = []
        for name in names:
            if name not in position:
                raise DataError(
                    f"feature {name!r} is not in the panel loaded from {self.source}"
                    f"{did_you_mean(name, self.feature_names)}: use one of its "
                    f"{self.n_features} feature columns or check data.features / data.exclude"
                )
            out.append(position[name])
        return np.asarray(out, dtype=np.int64)

    def feature_matrix(self, names: Iterable[str]) -> npt.NDArray[np.float32]:
        """The columns ``names`` of ``X`` as a new C-contiguous float32 matrix."""
        return np.ascontiguousarray(self.X[:, self.feature_indices(names)])

    def target(self, name: str) -> npt.NDArray[np.float64]:
        """The float64 values of target ``name`` (NaN where missing)."""
        try:
            return self.targets[name]
        except KeyError:
            dropped = self.report.dropped_targets.get(name)
            why = (
                f" (it was dropped while loading: {dropped})"
                if dropped
                else did_you_mean(name, self.targets)
            )
            raise DataError(
                f"target {name!r} is not in the panel loaded from {self.source}{why}: use one of "
                f"{sorted(self.targets)} or change data.targets"
            ) from None

    def timestamps_as_series(
        self, values: npt.NDArray[np.int64] | None = None, name: str | None = None
    ) -> pl.Series:
        """Timestamps (this panel's rows, or ``values``) in the original type."""
        raw = self.timestamps if values is None else values
        return decode_timestamps(raw, self.timestamp_dtype, name or self.timestamp_column)

    def symbol_names(self, codes: npt.NDArray[np.int32] | None = None) -> pl.Series:
        """Symbol names (strings) of this panel's rows, or of ``codes``."""
        raw = self.symbol_codes if codes is None else codes
        table = pl.Series(self.symbol_column, list(self.symbols), dtype=pl.String)
        return table.gather(np.asarray(raw, dtype=np.int64))

    def select_rows(self, rows: npt.ArrayLike) -> Panel:
        """The sub-panel of ``rows`` (a boolean mask or integer positions).

        Integer positions are sorted and de-duplicated so the sub-panel keeps the
        (timestamp, symbol) order. The symbol table stays the same, so codes mean
        the same thing in both panels; the fingerprint is recomputed.
        """
        index = np.asarray(rows)
        if index.dtype == np.bool_:
            if index.shape != (self.n_rows,):
                raise ValueError(
                    f"boolean row mask has shape {index.shape}; expected ({self.n_rows},)"
                )
            positions = np.flatnonzero(index)
        else:
            positions = np.unique(index.astype(np.int64, copy=False))
            if positions.size and (positions[0] < 0 or positions[-1] >= self.n_rows):
                raise IndexError(f"row positions must lie in [0, {self.n_rows})")
        report = dataclasses.replace(
            self.report,
            dropped_targets=dict(self.report.dropped_targets),
            infinite_values=dict(self.report.infinite_values),
            warnings=list(self.report.warnings),
        )
        return Panel.build(
            X=self.X[positions],
            feature_names=self.feature_names,
            targets={k: v[positions] for k, v in self.targets.items()},
            horizons=self.horizons,
            target_kinds=self.target_kinds,
            timestamps=self.timestamps[positions],
            symbol_codes=self.symbol_codes[positions],
            symbols=self.symbols,
            timestamp_dtype=self.timestamp_dtype,
            report=report,
            symbol_column=self.symbol_column,
            timestamp_column=self.timestamp_column,
            source=self.source,
        )

    def to_frame(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """A long-format polars frame: symbol, timestamp (original type), then the
        requested feature and target columns (default: all features, then all targets)."""
        if columns is None:
            features, targets = list(self.feature_names), list(self.targets)
        else:
            features, targets = [], []
            known = set(self.feature_names)
            for name in columns:
                if name in self.targets:
                    targets.append(name)
                elif name in known:
                    features.append(name)
                else:
                    raise DataError(
                        f"column {name!r} is neither a feature nor a target of the panel loaded "
                        f"from {self.source}"
                        f"{did_you_mean(name, [*self.feature_names, *self.targets])}: "
                        "ask for existing feature or target names"
                    )
        series: list[pl.Series] = [self.symbol_names(), self.timestamps_as_series()]
        if features:
            block = self.X[:, self.feature_indices(features)]
            series.extend(
                pl.Series(name, block[:, j], dtype=pl.Float32) for j, name in enumerate(features)
            )
        series.extend(pl.Series(name, self.targets[name], dtype=pl.Float64) for name in targets)
        return pl.DataFrame(series)

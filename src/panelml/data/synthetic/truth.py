"""The ground truth planted in a synthetic panel, as frozen records.

A target's optimal forecast (its conditional mean given the legitimate features
at time t) is ``sum(term.coefficient * g(term))`` over its ``terms``, with the
standardised term functions

* ``linear``:  ``x``
* ``square``:  ``(x**2 - 1) / sqrt(2)``
* ``product``: ``x1 * x2``

evaluated on the feature columns of the frame (:meth:`GroundTruth.optimal_forecast`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

TermForm = Literal["linear", "square", "product"]
TargetForm = Literal["linear", "nonlinear", "interaction", "volatility", "sequence", "none"]
LeakKind = Literal[
    "noisy_copy",
    "future_window",
    "short_shift",
    "lagged_label",
    "partial_window",
    "full_window",
    "mixed",
]
PairRole = Literal["genuine", "leak", "unrelated"]


def term_values(form: TermForm, columns: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """The standardised term function (mean 0, variance 1 on N(0, 1) inputs)."""
    if form == "linear":
        return columns[0]
    if form == "square":
        return (columns[0] ** 2 - 1.0) / math.sqrt(2.0)
    return columns[0] * columns[1]


@dataclass(frozen=True)
class PlantedTerm:
    """One additive piece of a target's signal.

    ``per_bar`` multiplies g(features at t-1) in every bar's innovation;
    ``coefficient`` multiplies g(features at t) in the optimal forecast of the
    whole window; ``share`` is the piece's share of the forecast's variance.
    """

    form: TermForm
    features: tuple[str, ...]
    per_bar: float
    coefficient: float
    share: float


@dataclass(frozen=True)
class PlantedTarget:
    """A target and what is knowable about it.

    ``strength`` is the population cross-sectional Pearson correlation between the
    optimal forecast and the target (for a binary target: with its continuous
    latent). ``expected_rank_ic`` is the large-cross-section mean of the
    per-timestamp Spearman correlation between the optimal forecast and the target
    (as published: 0/1 for binary); ``expected_auc`` is set for binary targets.

    A ``volatility`` target (hard-case panel) has no terms: its ``strength`` and
    ``expected_rank_ic`` are the rank IC of the latent log-volatility at t (the
    best knowable forecast's ceiling). ``feature_rank_ic`` holds the expected
    per-timestamp rank IC of each raw genuine feature with the target (0 for a
    feature that enters only through a square or a product).

    A ``sequence`` target (``make_panel(sequence_bars=k)``,
    :mod:`panelml.data.synthetic.sequence`) has no terms: its signal is the sum of
    its feature's values ``lags`` bars before t, which no single bar holds.
    """

    name: str
    horizon: int
    kind: Literal["regression", "binary"]
    form: TargetForm
    strength: float
    expected_rank_ic: float
    signal_features: tuple[str, ...]
    terms: tuple[PlantedTerm, ...] = ()
    expected_auc: float | None = None
    feature_rank_ic: dict[str, float] = field(default_factory=dict)
    lags: tuple[int, ...] = ()

    @property
    def predictable(self) -> bool:
        return self.strength > 0.0


@dataclass(frozen=True)
class PlantedLeak:
    """A feature that carries information from after time t about ``target``.

    * ``noisy_copy``: the target plus small noise;
    * ``partial_window``: the first ``bars`` (2, or 1 when h = 2) bars of the
      target's window plus noise;
    * ``future_window`` (no longer planted; kept so older truth files read): the
      first bar of the target's window (t, t+1] plus noise, the documented
      ambiguity (a strong non-persistent predictor of the next bar looks the same);
    * ``short_shift``: the target one bar later, y[t+1], which overlaps h-1 of
      the h bars of y[t]'s window.

    Kinds of the hard-case panel:

    * ``noisy_copy`` (as above, 0.2 sd of noise);
    * ``lagged_label``: y[t - lag] with 0 < lag < h, a label whose window
      (t-lag, t-lag+h] still reaches past t;
    * ``partial_window``: the first ``bars`` (< h) bars of the target's window plus
      a little noise;
    * ``full_window``: the sum of the h idiosyncratic shocks of the target's window
      plus noise (rank IC about 0.85);
    * ``mixed``: (x + z) / sqrt(2) of a persistent genuine feature x of the
      target and z, the standardised first ``bars`` bars of its window.

    ``proof`` marks a leak that is a near-copy (rank IC >= 0.95) of its target at
    some lag 0..h-1 by construction. ``rank_ic`` is the mean per-timestamp rank IC
    of the leak with its target measured on the generated panel (None when not
    recorded).
    """

    feature: str
    target: str
    kind: LeakKind
    lag: int = 0
    bars: int = 0
    proof: bool = False
    rank_ic: float | None = None


@dataclass(frozen=True)
class GroundTruth:
    """Everything planted in a synthetic panel; see ``make_panel`` for the design.

    ``entry_exit`` maps each ragged symbol to its first bar and one past its last
    bar (bar indices of the full calendar). ``past_labels`` lists (feature,
    target, lag) where the feature equals the target ``lag`` >= h bars earlier: a
    label whose window has closed by t, so it is known at t and is genuine, not
    a leak (a trailing realised volatility is the forward one, h bars ago).
    """

    targets: dict[str, PlantedTarget]
    leaks: tuple[PlantedLeak, ...]
    signal_features: tuple[str, ...]
    noise_features: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...] = ()
    market_features: tuple[str, ...] = ()
    persistence: dict[str, float] = field(default_factory=dict)
    group_correlation: float = 0.0
    noise_scale: float = 0.01
    bar_interval: str = "1d"
    seed: int = 0
    n_symbols: int = 0
    n_timestamps: int = 0
    design: str = "default"
    entry_exit: dict[str, tuple[int, int]] = field(default_factory=dict)
    past_labels: tuple[tuple[str, str, int], ...] = ()

    def predictable_targets(self) -> tuple[str, ...]:
        """Targets with planted signal, strongest first (ties by name)."""
        chosen = [t for t in self.targets.values() if t.predictable]
        return tuple(t.name for t in sorted(chosen, key=lambda t: (-t.strength, t.name)))

    def noise_targets(self) -> tuple[str, ...]:
        """Targets with no signal in the legitimate features (strength 0)."""
        return tuple(n for n, t in self.targets.items() if not t.predictable)

    def leak_features(self) -> tuple[str, ...]:
        return tuple(leak.feature for leak in self.leaks)

    def leaks_for(self, target: str) -> tuple[PlantedLeak, ...]:
        return tuple(leak for leak in self.leaks if leak.target == target)

    def legitimate_features(self) -> tuple[str, ...]:
        """Every feature that is not a leak (signal and noise), sorted."""
        return tuple(sorted((*self.signal_features, *self.noise_features)))

    def genuine_pairs(self) -> tuple[tuple[str, str], ...]:
        """(feature, target) pairs where the feature carries planted signal about
        the target (its terms, or its volatility features), sorted."""
        pairs = {
            (f, t.name) for t in self.targets.values() if t.predictable for f in t.signal_features
        }
        return tuple(sorted(pairs))

    def leak_pairs(self) -> tuple[tuple[str, str, LeakKind], ...]:
        """(feature, target, kind) of every planted leak, sorted."""
        return tuple(sorted((leak.feature, leak.target, leak.kind) for leak in self.leaks))

    def pair_role(self, feature: str, target: str) -> PairRole:
        """What ``feature`` is to ``target``: planted signal, a leak of it, or
        unrelated (no planted dependence: any measured IC is chance)."""
        if any(leak.feature == feature and leak.target == target for leak in self.leaks):
            return "leak"
        planted = self.targets[target]
        if planted.predictable and feature in planted.signal_features:
            return "genuine"
        return "unrelated"

    def planted_strength(self) -> dict[str, float]:
        """Each target's expected rank IC of its best forecast (0 for noise targets):
        the planted order to compare a ranking against."""
        return {name: t.expected_rank_ic for name, t in self.targets.items()}

    def proof_leaks(self) -> tuple[PlantedLeak, ...]:
        """Leaks that are near-copies of their target at some lag 0..h-1."""
        return tuple(leak for leak in self.leaks if leak.proof)

    def ragged_symbols(self) -> tuple[str, ...]:
        """Symbols that start late or end early (rows outside are absent)."""
        return tuple(sorted(self.entry_exit))

    def measured_rank_ic(self, frame: pl.DataFrame, feature: str, target: str) -> float:
        """Mean per-timestamp Spearman correlation between two columns of ``frame``
        (long format with ``symbol`` and ``timestamp``; rows where either is missing
        are dropped, timestamps with fewer than 5 such rows are skipped)."""
        return measured_rank_ic(frame, feature, target)

    def leak_rank_ics(self, frame: pl.DataFrame) -> dict[str, float]:
        """Measured rank IC of each leak feature with its target (signed)."""
        return {
            leak.feature: measured_rank_ic(frame, leak.feature, leak.target) for leak in self.leaks
        }

    def optimal_forecast(self, frame: pl.DataFrame, target: str) -> npt.NDArray[np.float64]:
        """The optimal forecast of ``target`` for every row of ``frame`` (float64;
        zeros for a noise target, NaN where a needed feature is missing)."""
        planted = self.targets[target]
        if planted.form in ("volatility", "sequence"):
            raise ValueError(
                f"target {target!r} is a {planted.form} target: no one-bar closed-form forecast"
            )
        out = np.zeros(frame.height, dtype=np.float64)
        for term in planted.terms:
            columns = [frame[f].cast(pl.Float64).to_numpy() for f in term.features]
            out += term.coefficient * term_values(term.form, columns)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        """Inverse of :meth:`to_dict` (for ``truth.json``)."""
        targets = {
            name: PlantedTarget(
                **{
                    **t,
                    "signal_features": tuple(t["signal_features"]),
                    "terms": tuple(
                        PlantedTerm(**{**term, "features": tuple(term["features"])})
                        for term in t["terms"]
                    ),
                    "feature_rank_ic": dict(t.get("feature_rank_ic", {})),
                    "lags": tuple(t.get("lags", ())),
                }
            )
            for name, t in data["targets"].items()
        }
        return cls(
            **{
                **data,
                "targets": targets,
                "leaks": tuple(PlantedLeak(**leak) for leak in data["leaks"]),
                "signal_features": tuple(data["signal_features"]),
                "noise_features": tuple(data["noise_features"]),
                "groups": tuple(tuple(g) for g in data["groups"]),
                "market_features": tuple(data["market_features"]),
                "past_labels": tuple(
                    (str(f), str(t), int(lag)) for f, t, lag in data.get("past_labels", ())
                ),
                "entry_exit": {
                    s: (int(v[0]), int(v[1])) for s, v in data.get("entry_exit", {}).items()
                },
            }
        )


def measured_rank_ic(frame: pl.DataFrame, feature: str, target: str) -> float:
    """Mean per-timestamp Spearman correlation of two columns of a long frame."""
    pair = frame.select(
        "timestamp",
        pl.col(feature).cast(pl.Float64).fill_nan(None).alias("x"),
        pl.col(target).cast(pl.Float64).fill_nan(None).alias("y"),
    ).drop_nulls()
    per_timestamp = (
        pair.group_by("timestamp")
        .agg(pl.len().alias("n"), pl.corr(pl.col("x").rank(), pl.col("y").rank()).alias("ic"))
        .filter((pl.col("n") >= 5) & pl.col("ic").is_not_nan())
    )
    if per_timestamp.height == 0:
        return float("nan")
    return float(per_timestamp["ic"].mean())  # type: ignore[arg-type]

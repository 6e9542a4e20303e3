"""Stability and drift measures for feature selection and feature importance.

Why these measures: a feature set that changes from fold to fold or run to run
is not something a user can trust, so panelml reports how stable the selection
and the importance ranking are, and how much the feature distributions drift.

* :func:`nogueira_stability` -- the stability estimator Phi of Nogueira,
  Sechidis & Brown, "On the Stability of Feature Selection Algorithms",
  JMLR 18(174), 2018, with its asymptotic variance and a 95% interval.
* :func:`kuncheva_index` -- Kuncheva's consistency index (2007), which Phi
  equals when every selection has the same size (used as a cross-check).
* :func:`jaccard_topk`, :func:`mean_pairwise_jaccard` -- overlap of top-k sets of
  ranked feature lists.
* :func:`kendall_tau_union` -- rank agreement of two importance vectors.
* :func:`selection_frequency` -- how often each feature was selected.
* :func:`psi` -- the population stability index of a feature's distribution.
* :class:`StabilityThresholds` and :func:`stability_warnings` -- when to warn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "StabilityEstimate",
    "StabilityThresholds",
    "jaccard_topk",
    "kendall_tau_union",
    "kuncheva_index",
    "mean_pairwise_jaccard",
    "nogueira_stability",
    "psi",
    "selection_frequency",
    "selection_matrix",
    "stability_warnings",
]

FloatArray = npt.NDArray[np.float64]

#: z quantile of a two-sided 95% normal interval.
_Z95 = 1.959963984540054
#: share given to an empty PSI bin so that the log stays finite (REFERENCES.md).
_PSI_EMPTY_BIN = 1e-4


@dataclass(frozen=True)
class StabilityEstimate:
    """Nogueira's Phi for M selections over d features, with its uncertainty.

    ``phi`` and the interval are NaN when Phi is undefined; ``reason`` then says
    why (fewer than two selections, or every selection empty / every selection
    the full feature set). ``mean_size`` is k, the mean number of selected
    features.
    """

    phi: float
    variance: float
    ci_low: float
    ci_high: float
    n_selections: int
    n_features: int
    mean_size: float
    reason: str | None = None

    @property
    def defined(self) -> bool:
        """True when Phi could be computed."""
        return self.reason is None


def _as_selection_matrix(Z: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """Check that ``Z`` is a 2-d 0/1 (or boolean) matrix and return it as int8."""
    arr = np.asarray(Z)
    if arr.ndim != 2:
        raise ValueError(
            f"selection matrix must be 2-d (selections x features), got shape {arr.shape}"
        )
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"selection matrix must be numeric 0/1, got dtype {arr.dtype}")
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError("selection matrix must contain only 0 and 1")
    return arr.astype(np.int8)


def selection_matrix(
    selections: Sequence[Iterable[str]], universe: Sequence[str]
) -> tuple[npt.NDArray[np.int8], list[str]]:
    """Turn selected-feature-name sets into the binary matrix Z (M x d).

    ``universe`` fixes the columns and their order; it must list every feature
    that *could* have been selected (not only those that were), because Phi
    depends on d. A selected name outside the universe is an error, since
    silently dropping it would overstate stability.
    """
    names = list(universe)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature universe has duplicate names: {dupes}")
    index = {name: j for j, name in enumerate(names)}
    Z = np.zeros((len(selections), len(names)), dtype=np.int8)
    for i, selected in enumerate(selections):
        for name in selected:
            j = index.get(name)
            if j is None:
                raise ValueError(
                    f"selection {i} contains {name!r}, which is not in the feature universe"
                )
            Z[i, j] = 1
    return Z, names


def _undefined(M: int, d: int, k: float, reason: str) -> StabilityEstimate:
    nan = float("nan")
    return StabilityEstimate(nan, nan, nan, nan, M, d, k, reason)


def nogueira_stability(Z: npt.ArrayLike) -> StabilityEstimate:
    """Stability Phi of M feature selections (rows of ``Z``) over d features.

    Nogueira, Sechidis & Brown (JMLR 2018): with p_f the selection frequency of
    feature f, s_f^2 = M/(M-1) p_f (1 - p_f) and k = sum_f p_f,

        Phi = 1 - mean_f(s_f^2) / [(k/d)(1 - k/d)].

    Phi is 1 iff all selections are identical, about 0 for random selections
    (it is corrected for chance), handles selections of different sizes, and is
    bounded below by -1/(M-1). It is undefined when k is 0 or d (nothing or
    everything is always selected) or when M < 2.

    The variance is the paper's asymptotic estimate: with k_i the size of
    selection i,

        phi_i = [ (1/d) sum_f z_if p_f - k_i k/d^2
                  + (Phi/2)(2 k_i k/d^2 - k_i/d - k/d + 1) ] / [(k/d)(1 - k/d)],
        v = 4/M^2 sum_i (phi_i - mean_i phi_i)^2,

    and the 95% interval is Phi +- 1.96 sqrt(v). (phi_i is half the delta-method
    influence of selection i on Phi; the sign of the Phi/2 term follows from
    that derivation.)
    """
    arr = _as_selection_matrix(Z).astype(np.float64)
    M, d = arr.shape
    if M < 2:
        k_one = float(arr.sum(axis=1).mean()) if M else 0.0
        return _undefined(M, d, k_one, f"Phi is undefined: fewer than 2 selections (M = {M})")
    p = arr.mean(axis=0)
    k = float(p.sum())
    if d == 0 or k <= 0.0 or k >= d:
        what = "every selection is empty" if k <= 0.0 else "every selection has all features"
        if d == 0:
            what = "there are no features"
        return _undefined(M, d, k, f"Phi is undefined: {what} (k = {k:g}, d = {d})")

    kd = k / d
    denom = kd * (1.0 - kd)
    s2 = (M / (M - 1)) * p * (1.0 - p)
    phi = 1.0 - float(s2.mean()) / denom

    k_i = arr.sum(axis=1)
    phi_i = (
        (arr @ p) / d
        - k_i * k / d**2
        + (phi / 2.0) * (2.0 * k_i * k / d**2 - k_i / d - k / d + 1.0)
    ) / denom
    variance = float(4.0 / M**2 * np.sum((phi_i - phi_i.mean()) ** 2))
    half = _Z95 * math.sqrt(variance)
    return StabilityEstimate(phi, variance, phi - half, phi + half, M, d, k)


def kuncheva_index(Z: npt.ArrayLike) -> float:
    """Kuncheva's consistency index, averaged over all pairs of selections.

    Kuncheva (2007), for two subsets of equal size k out of d features with r
    features in common: (r - k^2/d) / (k - k^2/d). It is only defined for
    selections of equal size with 0 < k < d, so other inputs raise ValueError.
    Nogueira et al. (2018) show Phi reduces to this index in that case.
    """
    arr = _as_selection_matrix(Z).astype(np.float64)
    M, d = arr.shape
    if M < 2:
        raise ValueError("Kuncheva's index needs at least 2 selections")
    sizes = arr.sum(axis=1)
    if not np.all(sizes == sizes[0]):
        raise ValueError("Kuncheva's index needs selections of equal size")
    k = float(sizes[0])
    if k <= 0 or k >= d:
        raise ValueError(f"Kuncheva's index is undefined for subset size {k:g} of {d} features")
    expected = k * k / d
    overlaps = arr @ arr.T
    iu = np.triu_indices(M, k=1)
    return float(np.mean((overlaps[iu] - expected) / (k - expected)))


def _top_k_set(ranking: Sequence[str], k: int) -> set[str]:
    items = list(ranking)
    if len(set(items)) != len(items):
        raise ValueError("a ranking must not contain the same feature twice")
    return set(items[:k])


def jaccard_topk(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """Jaccard overlap |A & B| / |A | B| of the top-k features of two rankings.

    ``a`` and ``b`` are feature names ordered from most to least important; a
    ranking shorter than k contributes all its names. The result is in [0, 1];
    it is NaN when both top-k sets are empty (nothing to compare).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top_a, top_b = _top_k_set(a, k), _top_k_set(b, k)
    union = top_a | top_b
    if not union:
        return float("nan")
    return len(top_a & top_b) / len(union)


def mean_pairwise_jaccard(rankings: Sequence[Sequence[str]], k: int) -> float:
    """Mean of :func:`jaccard_topk` over all pairs of rankings (NaN if fewer than 2)."""
    values = [jaccard_topk(a, b, k) for a, b in itertools.combinations(rankings, 2)]
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _missing_importance(imp: Mapping[str, float]) -> float:
    """Importance given to a feature absent from ``imp``: the lowest rank there."""
    smallest = min((float(v) for v in imp.values()), default=0.0)
    return 0.0 if smallest >= 0.0 else smallest - 1.0


def kendall_tau_union(imp_a: Mapping[str, float], imp_b: Mapping[str, float]) -> float:
    """Kendall's tau-b between two importance vectors over the union of features.

    A feature present on one side only is treated as having the lowest
    importance on the other side. When that side's importances are all
    non-negative (gain, split counts) it gets 0, which ties it with features the
    model did not use; when some are negative (permutation importance) it gets a
    value below the smallest one, so it ranks below every present feature. Tau-b (scipy's
    ``kendalltau``) corrects for those ties. Dropping one-sided features instead
    would hide exactly the churn this measure is meant to catch.

    Returns NaN when fewer than 2 features are in the union or one side is
    constant (tau is undefined without variation).
    """
    for label, imp in (("imp_a", imp_a), ("imp_b", imp_b)):
        bad = [name for name, v in imp.items() if not math.isfinite(float(v))]
        if bad:
            raise ValueError(f"{label} has non-finite importances for {sorted(bad)[:5]}")
    features = sorted(set(imp_a) | set(imp_b))
    if len(features) < 2:
        return float("nan")
    fill_a, fill_b = _missing_importance(imp_a), _missing_importance(imp_b)
    x = np.array([float(imp_a.get(f, fill_a)) for f in features])
    y = np.array([float(imp_b.get(f, fill_b)) for f in features])
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    result = stats.kendalltau(x, y, variant="b")
    return float(result.statistic)


def selection_frequency(Z: npt.ArrayLike, names: Sequence[str]) -> dict[str, float]:
    """Share of selections (rows of ``Z``) that include each feature, by name."""
    arr = _as_selection_matrix(Z)
    if arr.shape[1] != len(names):
        raise ValueError(f"Z has {arr.shape[1]} columns but {len(names)} names were given")
    if arr.shape[0] == 0:
        return {name: float("nan") for name in names}
    freq = arr.mean(axis=0)
    return {name: float(f) for name, f in zip(names, freq, strict=True)}


def _finite_values(x: npt.ArrayLike, label: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError(f"{label} has no finite values")
    return arr


def psi(base: npt.ArrayLike, test: npt.ArrayLike, bins: int = 10) -> float:
    """Population stability index of ``test`` against ``base``.

    PSI = sum_b (test%_b - base%_b) ln(test%_b / base%_b) over ``bins``
    equal-frequency bins cut at the quantiles of ``base`` (REFERENCES.md; the
    usual alert levels are 0.10 and 0.25). Bins are right-closed; the outer bins
    are open-ended so test values outside the base range are counted. A bin
    with no values gets a share of 1e-4 (shares are not renormalised). Cut
    points that coincide (a base with many ties) are merged, so fewer bins may
    be used. Non-finite values are ignored.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    b = _finite_values(base, "base")
    t = _finite_values(test, "test")
    inner = np.unique(np.quantile(b, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    n_bins = inner.size + 1
    base_share = np.bincount(np.searchsorted(inner, b, side="left"), minlength=n_bins) / b.size
    test_share = np.bincount(np.searchsorted(inner, t, side="left"), minlength=n_bins) / t.size
    base_share = np.where(base_share == 0, _PSI_EMPTY_BIN, base_share)
    test_share = np.where(test_share == 0, _PSI_EMPTY_BIN, test_share)
    return float(np.sum((test_share - base_share) * np.log(test_share / base_share)))


@dataclass(frozen=True)
class StabilityThresholds:
    """Levels below (or, for PSI, above) which panelml warns.

    * ``nogueira_warn = 0.4``: Phi generalises Fleiss' kappa, and we read it
      with the customary kappa bands (Fleiss): above 0.75 excellent, 0.4-0.75
      intermediate to good, below 0.4 poor. We warn on "poor". This reading is
      our convention, borrowed from the kappa literature.
    * ``jaccard_warn = 0.5``: fewer than half of the union of two top-k sets is
      shared (our convention).
    * ``kendall_warn = 0.3``: importance ranks agree only weakly (our
      convention).
    * ``psi_warn = 0.10`` / ``psi_alert = 0.25``: the usual PSI levels for a
      moderate and a significant shift (REFERENCES.md).
    """

    nogueira_warn: float = 0.4
    jaccard_warn: float = 0.5
    kendall_warn: float = 0.3
    psi_warn: float = 0.10
    psi_alert: float = 0.25


def stability_warnings(
    *,
    nogueira: StabilityEstimate | None = None,
    jaccard: float | None = None,
    kendall: float | None = None,
    psi_values: Mapping[str, float] | None = None,
    thresholds: StabilityThresholds | None = None,
    context: str = "",
) -> list[str]:
    """One readable sentence per measure that crosses its threshold.

    Pass only the measures you have. ``psi_values`` maps a feature name to its
    PSI. ``context`` (for example ``"target fwd_ret_5"``) prefixes each message.
    An undefined Phi is reported too, since it usually means the selection step
    selected nothing or everything.
    """
    th = thresholds or StabilityThresholds()
    prefix = f"{context}: " if context else ""
    out: list[str] = []
    if nogueira is not None:
        if not nogueira.defined:
            out.append(f"{prefix}feature-selection stability undefined ({nogueira.reason})")
        elif nogueira.phi < th.nogueira_warn:
            out.append(
                f"{prefix}feature selection is unstable: Nogueira Phi = {nogueira.phi:.3f} "
                f"(95% CI {nogueira.ci_low:.3f} to {nogueira.ci_high:.3f}) over "
                f"{nogueira.n_selections} selections, below {th.nogueira_warn:g}"
            )
    if jaccard is not None and not math.isnan(jaccard) and jaccard < th.jaccard_warn:
        out.append(
            f"{prefix}top-k feature sets overlap little: mean Jaccard = {jaccard:.3f}, "
            f"below {th.jaccard_warn:g}"
        )
    if kendall is not None and not math.isnan(kendall) and kendall < th.kendall_warn:
        out.append(
            f"{prefix}feature-importance ranks disagree: Kendall tau = {kendall:.3f}, "
            f"below {th.kendall_warn:g}"
        )
    if psi_values:
        for name, value in sorted(psi_values.items(), key=lambda kv: -kv[1]):
            if math.isnan(value):
                continue
            if value >= th.psi_alert:
                out.append(
                    f"{prefix}feature {name!r} has shifted significantly: PSI = {value:.3f} "
                    f"(>= {th.psi_alert:g})"
                )
            elif value >= th.psi_warn:
                out.append(
                    f"{prefix}feature {name!r} has shifted moderately: PSI = {value:.3f} "
                    f"(>= {th.psi_warn:g})"
                )
    return out

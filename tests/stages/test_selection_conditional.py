"""feature_selection's conditional-relevance step (``_conditional``): a feature
that adds real information given the chosen ones joins them; features that
only borrow a chosen feature's information, and every feature of a pure-noise
target, do not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from panelml.data.synthetic import make_panel
from panelml.stages.fitting import Fold, plan_folds
from panelml.stages.selection._conditional import conditional_additions
from panelml.stages.selection._importance import RankBlock, rank_block, shadow_matrix
from panelml.validation.spec import ValidationConfig

N_T, N_S = 250, 40


def _ranks(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    r = a.reshape(N_T, N_S, -1).argsort(axis=1).argsort(axis=1).astype(np.float64)
    r = (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)
    return r.reshape(N_T * N_S, -1)


def _setup(
    seed: int, signal: bool, n_noise: int = 3
) -> tuple[RankBlock, np.ndarray[Any, Any], list[Fold]]:
    """3 + ``n_noise`` real columns then one shadow each (shuffled within
    timestamps): x0 strong; x1 = 0.7 x0 + 0.71 e1 with a small effect of its
    own (0.15 e1); x2 = 0.7 x0 + noise, no effect; then independent noise.
    ``signal=False``: the target is pure t(3) noise. Five contiguous folds of
    50 timestamps."""
    rng = np.random.default_rng(seed)
    n = N_T * N_S
    x0, e1, e2 = rng.standard_normal((3, n))
    x1 = 0.7 * x0 + np.sqrt(1 - 0.49) * e1
    x2 = 0.7 * x0 + np.sqrt(1 - 0.49) * e2
    real = np.column_stack([x0, x1, x2, rng.standard_normal((n, n_noise))])
    y = rng.standard_t(3, n)
    if signal:
        y = y + 0.6 * x0 + 0.15 * e1
    shadows = real.copy()
    for k in range(N_T):
        sl = slice(k * N_S, (k + 1) * N_S)
        shadows[sl] = shadows[sl][rng.permutation(N_S)]
    Z = _ranks(np.hstack([real, shadows]))
    block = RankBlock(
        rows=np.arange(n, dtype=np.int64),
        Z=np.hstack([Z, Z * Z - 1.0]),
        target=_ranks(y[:, None]).ravel(),
    )
    t = np.repeat(np.arange(N_T), N_S).astype(np.int64)
    folds = []
    for f in range(5):
        test = np.flatnonzero((t >= 50 * f) & (t < 50 * (f + 1)))
        train = np.setdiff1d(np.arange(n), test)
        folds.append(Fold(f, train, test, train, None))
    return block, t, folds


def _add(seed: int, signal: bool, chosen: list[int], n_noise: int = 3) -> list[int]:
    block, t, folds = _setup(seed, signal, n_noise)
    n_real = 3 + n_noise
    candidates = np.array([i not in chosen for i in range(n_real)])
    found = conditional_additions(
        block, t, folds, n_real, chosen, candidates, horizon=1, scheme="purged_kfold",
        fdr=0.05, min_hit_rate=0.8, min_names=5, max_additions=n_real,
    )  # fmt: skip
    return [a.column for a in found]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_feature_with_its_own_information_joins_and_its_twin_does_not(seed: int) -> None:
    """Given x0, x1 carries its own part e1 (partial rank IC about 0.1 here)
    and joins; x2, as correlated with x0 as x1 but without an effect of its
    own, and the independent noise columns stay out. Power: a rule on the
    marginal rank IC alone adds x2 (its marginal IC is 0.7 times x0's, far
    above every shadow) on every seed; a rule without conditioning on x0
    cannot tell x1 from x2."""
    assert _add(seed, True, [0]) == [1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_target_adds_nothing(seed: int) -> None:
    """Nothing joins on a noise target with 33 candidate columns. Power: a rule
    that adds any column whose out-of-fold test alone has p < 0.05 (no marginal
    gate, no shadow bar) adds one with probability 1 - 0.95^33 = 0.82 per seed,
    so it fails this test with probability 0.995 over the three seeds; one
    that adds columns passing BH at 0.05 without the fold count fails with
    probability about 0.05 per seed (FDR = FWER under the global null)."""
    assert _add(seed, False, [], n_noise=30) == []


def _hard_step(seed: int, target: str) -> tuple[list[str], set[str]]:
    """The step on the hard panel (60 x 400, no leaks) for ``target``, given the
    three longer trailing volatilities (what the default vote selects there on
    every measured seed), every other feature a candidate: (added, planted)."""
    synthetic = make_panel(hard_cases=True, seed=seed, n_symbols=60, n_timestamps=400,
                           leaks=False)  # fmt: skip
    truth = synthetic.truth
    panel = synthetic.to_panel(
        synthetic.data_config(horizons={n: t.horizon for n, t in truth.targets.items()})
    )
    names = panel.feature_names
    columns = np.arange(len(names))
    rng = np.random.default_rng(seed)
    X_aug = np.hstack([panel.X, shadow_matrix(panel, columns, rng)])
    y = panel.targets[target]
    rows = np.flatnonzero(np.isfinite(y))
    validation = ValidationConfig(n_splits=5)
    folds = plan_folds(panel, target, validation, rows)
    block = rank_block(X_aug, y, panel.timestamps, rows, validation.min_names)
    planted = set(truth.targets[target].signal_features)
    one_bar = min(planted, key=lambda f: truth.persistence[f])
    chosen = [i for i, f in enumerate(names) if f in planted and f != one_bar]
    candidates = np.array([i not in chosen for i in range(len(names))])
    found = conditional_additions(
        block, panel.timestamp_index[block.rows], folds, len(names), chosen, candidates,
        horizon=panel.horizons[target], scheme=validation.scheme, fdr=0.05,
        min_hit_rate=0.8, min_names=validation.min_names, max_additions=10,
    )  # fmt: skip
    return [names[a.column] for a in found], planted - {names[i] for i in chosen}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_panel_finds_the_one_bar_volatility_given_the_longer_ones(seed: int) -> None:
    """Given the 5-, 20- and 60-bar trailing volatilities, the step adds the
    1-bar one (the least persistent; population partial rank IC given the
    others 0.053 / 0.063 for fwd_vol_5 / fwd_vol_20) and nothing else, for
    both targets. It is the pair the vote alone missed on every hard-panel
    seed (bench/selection_recall.py). Measured at this size on seeds 0-4 it
    beats every shadow in 4-5 of 5 folds with partial p below 1e-4. Power:
    a step that conditions on nothing - a marginal test alone - would add
    every trailing volatility of the unrelated return stream too (marginal
    rank IC with the targets near 0 but persistent), and a step without the
    out-of-fold partial test has nothing to tell the 1-bar volatility from the
    other candidates once the longer ones are chosen."""
    for target in ("fwd_vol_5", "fwd_vol_20"):
        added, missing = _hard_step(seed, target)
        assert added == sorted(missing), (target, added, missing)

"""False-flag rate of the calibrated ``future_info`` check on genuine features.

For every persistence phi in 0 .. 0.99 and horizon h in {1, 5, 10, 20}, a panel
of 60 symbols x 300 bars holds genuine AR(1) features (persistence phi) whose
state at t drives the per-bar return of bar t+1 with a signal-to-noise giving a
target rank IC of about 0.1-0.5, Student-t(3) noise; the check runs on each
(feature, target) pair (``future_info`` with its defaults). A flag on a genuine
pair is a false flag. The same panels carry leaks of the label window (a noisy
copy of the label and the sum of its first half) to measure the power.

Run: ``python bench/leak_timing.py [n_reps]``; writes a table to stdout.
"""

from __future__ import annotations

import sys

import numpy as np

from panelml.data.panel import Panel
from panelml.stages.leakage import LeakageScreenParams, screen_panel

PHIS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
HORIZONS = (1, 5, 10, 20)
COEFS = (0.15, 0.3, 0.6)


def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int]) -> np.ndarray:
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[0] = e[0]
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * e[t]
    return out


def _panel(seed: int, h: int, n_s: int = 60, n_t: int = 300) -> tuple[Panel, list[str]]:
    rng = np.random.default_rng(seed)
    n = n_t + 2 * h + 60
    shape = (n, n_s)
    feats: dict[str, np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    genuine: list[str] = []
    for phi in PHIS:
        for c in COEFS:
            x = _ar1(rng, phi, shape)
            # per-bar return of bar t+1 from the state at t, heavy-tailed noise
            bars = np.zeros(shape)
            bars[1:] = c * x[:-1] + rng.standard_t(3, size=(n - 1, n_s)) / np.sqrt(3)
            csum = np.vstack([np.zeros((1, n_s)), np.cumsum(bars, axis=0)])
            y = np.full(shape, np.nan)
            y[: n - h] = csum[h + 1 :] - csum[1 : n - h + 1]
            name = f"x_phi{phi:.2f}_c{c}"
            tname = f"t_phi{phi:.2f}_c{c}"
            feats[name] = x
            targets[tname] = y
            genuine.append(name)
            if c == COEFS[-1]:
                feats[f"leak_copy_{tname}"] = y + np.nanstd(y) * rng.standard_normal(shape)
                half = max(h // 2, 1)
                part = np.full(shape, np.nan)
                part[: n - half] = csum[half + 1 :] - csum[1 : n - half + 1]
                feats[f"leak_half_{tname}"] = part
    keep = slice(60, 60 + n_t)
    names = list(feats)
    X = np.column_stack([feats[f][keep].ravel() for f in names]).astype(np.float32)
    panel = Panel.build(
        X=X,
        feature_names=names,
        targets={k: v[keep].ravel() for k, v in targets.items()},
        horizons=dict.fromkeys(targets, h),
        target_kinds=dict.fromkeys(targets, "regression"),
        timestamps=np.repeat(np.arange(n_t, dtype=np.int64), n_s),
        symbol_codes=np.tile(np.arange(n_s, dtype=np.int32), n_t),
        symbols=[f"S{i}" for i in range(n_s)],
    )
    return panel, genuine


def main(n_reps: int) -> None:
    params = LeakageScreenParams.model_validate(
        {
            "near_copy": {"enabled": False},
            "shifted_copy": {"enabled": False},
            "too_good": {"enabled": False},
            "name_rules": {"enabled": False},
        }
    )
    flags: dict[tuple[float, int], list[int]] = {}
    power: dict[tuple[str, int], list[int]] = {}
    for h in HORIZONS:
        for rep in range(n_reps):
            panel, _ = _panel(1000 * h + rep, h)
            params_t = params.model_copy()
            report = screen_panel(panel, params_t)
            hit = {(r["feature"], r["target"]) for r in report.iter_rows(named=True)}
            for phi in PHIS:
                for c in COEFS:
                    f, t = f"x_phi{phi:.2f}_c{c}", f"t_phi{phi:.2f}_c{c}"
                    flags.setdefault((phi, h), []).append(int((f, t) in hit))
                t = f"t_phi{phi:.2f}_c{COEFS[-1]}"
                for kind in ("copy", "half"):
                    power.setdefault((kind, h), []).append(int((f"leak_{kind}_{t}", t) in hit))
            print(f"h={h} rep={rep} done", file=sys.stderr, flush=True)
    print("false-flag rate of future_info on genuine (feature, target) pairs")
    print("phi   " + " ".join(f"h={h:<5d}" for h in HORIZONS))
    for phi in PHIS:
        cells = " ".join(f"{np.mean(flags[(phi, h)]):.3f}  " for h in HORIZONS)
        print(f"{phi:<5.2f} {cells}  (n={len(flags[(phi, HORIZONS[0])])} per cell)")
    total = [v for vals in flags.values() for v in vals]
    print(f"overall false-flag rate {np.mean(total):.4f} over {len(total)} genuine pairs")
    print("power on leaks of the label window (share flagged)")
    for kind in ("copy", "half"):
        print(kind, " ".join(f"h={h}: {np.mean(power[(kind, h)]):.2f}" for h in HORIZONS))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)

"""Benchmark: what binning the feature matrix once saves when many targets and
folds share it (not a test; run by hand).

For every (target, fold) pair it fits a boosted model two ways:

- fresh: ``family.fit(X[train], y[train])`` - a new LightGBM ``Dataset`` /
  XGBoost ``QuantileDMatrix`` / CatBoost ``Pool`` (binning) per target and fold;
- reuse: ``family.prepare(X)`` once, then ``family.fit_prepared(prepared,
  train, y)`` - LightGBM ``Dataset.subset`` + label swap, XGBoost cached
  per-fold ``QuantileDMatrix(ref=full)`` + label swap, CatBoost borders of the
  full matrix computed once, one quantized ``Pool`` per target, ``Pool.slice``
  per fold.

It reports wall times (median of ``--repeats``), the speed-up, the max
absolute prediction difference between the two (non-zero on continuous data,
because a fresh fit bins only the training rows), the max difference against a
fresh fit that uses the full matrix's bins (the equivalence panelml guarantees:
expected 0.0), and the mean out-of-fold correlation of each. Results go to
``bench/results/reuse.json``.

    python bench/reuse.py --rows 100000 --features 50 --targets 6 --folds 5 --repeats 1
    python bench/reuse.py --families catboost --out bench/results/reuse_catboost.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models import get_family
from panelml.models.base import ModelFamily

RESULTS = Path(__file__).parent / "results" / "reuse.json"


def make_panel(
    rows: int, features: int, targets: int, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """Float32 features (2% NaN) and targets that each load on a few features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    Y = np.empty((rows, targets))
    for t in range(targets):
        cols = rng.choice(features, size=min(5, features), replace=False)
        w = rng.normal(size=cols.size)
        Y[:, t] = X[:, cols].astype(np.float64) @ w + 2.0 * rng.standard_normal(rows)
    X[rng.random(X.shape) < 0.02] = np.nan
    return np.ascontiguousarray(X), Y


def folds(rows: int, k: int) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Contiguous blocks (time order): test = one block, train = the rest."""
    edges = np.linspace(0, rows, k + 1).astype(int)
    out = []
    for i in range(k):
        test = np.arange(edges[i], edges[i + 1], dtype=np.intp)
        train = np.concatenate([np.arange(0, edges[i]), np.arange(edges[i + 1], rows)]).astype(
            np.intp
        )
        out.append((train, test))
    return out


def run_family(
    family: type[ModelFamily],
    params: dict[str, Any],
    X: npt.NDArray[np.float32],
    Y: npt.NDArray[np.float64],
    splits: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]],
    repeats: int,
) -> dict[str, Any]:
    def fresh() -> list[npt.NDArray[np.float64]]:
        return [
            family("regression", params).fit(X[tr], Y[tr, t], seed=0).predict(X[te])
            for t in range(Y.shape[1])
            for tr, te in splits
        ]

    def reuse() -> list[npt.NDArray[np.float64]]:
        prepared = family.prepare(X, params)
        return [
            family("regression", params).fit_prepared(prepared, tr, Y[:, t], seed=0).predict(X[te])
            for t in range(Y.shape[1])
            for tr, te in splits
        ]

    times: dict[str, list[float]] = {"fresh": [], "reuse": []}
    preds: dict[str, list[npt.NDArray[np.float64]]] = {}
    for _ in range(repeats):
        for name, fn in (("fresh", fresh), ("reuse", reuse)):
            start = time.perf_counter()
            preds[name] = fn()
            times[name].append(time.perf_counter() - start)
    pairs = zip(preds["fresh"], preds["reuse"], strict=True)
    diff = max(float(np.max(np.abs(a - b))) for a, b in pairs)

    def oof_corr(p: list[npt.NDArray[np.float64]]) -> float:
        cors = []
        i = 0
        for t in range(Y.shape[1]):
            for _, te in splits:
                cors.append(float(np.corrcoef(p[i], Y[te, t])[0, 1]))
                i += 1
        return float(np.mean(cors))

    same_bins = same_bins_diff(family, params, X, Y, splits, preds["reuse"])
    fresh_s = statistics.median(times["fresh"])
    reuse_s = statistics.median(times["reuse"])
    return {
        "params": params,
        "fits_per_path": Y.shape[1] * len(splits),
        "fresh_s": round(fresh_s, 3),
        "reuse_s": round(reuse_s, 3),
        "speedup": round(fresh_s / reuse_s, 3),
        "all_times_s": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
        "max_abs_pred_diff_vs_fresh": diff,
        "max_abs_pred_diff_vs_same_bins": same_bins,
        "mean_oof_corr_fresh": round(oof_corr(preds["fresh"]), 5),
        "mean_oof_corr_reuse": round(oof_corr(preds["reuse"]), 5),
    }


def same_bins_diff(
    family: type[ModelFamily],
    params: dict[str, Any],
    X: npt.NDArray[np.float32],
    Y: npt.NDArray[np.float64],
    splits: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]],
    reuse_preds: list[npt.NDArray[np.float64]],
) -> float:
    """Max |diff| of the reused fits (target 0, every fold) against fresh fits
    that bin the training rows with the full matrix's boundaries."""
    model = family("regression", params)
    trained = model._train_params(0)  # type: ignore[attr-defined]
    fit_params, n_rounds = trained[0], trained[1]
    worst = 0.0
    if family.name == "lightgbm":
        import lightgbm as lgb

        ds_params = model._dataset_params(model.params)  # type: ignore[attr-defined]
        full = lgb.Dataset(X, params=dict(ds_params), free_raw_data=False).construct()
        for i, (tr, te) in enumerate(splits):
            train = lgb.Dataset(X[tr], label=Y[tr, 0], reference=full, params=dict(ds_params))
            booster = lgb.train(fit_params, train, num_boost_round=n_rounds)
            worst = max(worst, float(np.max(np.abs(booster.predict(X[te]) - reuse_preds[i]))))
    elif family.name == "xgboost":
        import xgboost as xgb

        max_bin = int(model.params["max_bin"])
        full_q = xgb.QuantileDMatrix(X, max_bin=max_bin)
        for i, (tr, te) in enumerate(splits):
            train_q = xgb.QuantileDMatrix(X[tr], label=Y[tr, 0], ref=full_q, max_bin=max_bin)
            xgb_booster = xgb.train(fit_params, train_q, num_boost_round=n_rounds)
            pred = xgb_booster.inplace_predict(X[te])
            worst = max(worst, float(np.max(np.abs(pred - reuse_preds[i]))))
    elif family.name == "catboost":
        import catboost as cb

        prepared = family.prepare(X, params)
        borders = str(prepared.borders)  # type: ignore[attr-defined]
        for i, (tr, te) in enumerate(splits):
            pool = cb.Pool(X[tr], label=Y[tr, 0])
            pool.quantize(input_borders=borders)
            cb_model = cb.CatBoost(fit_params).fit(pool)
            pred = cb_model.predict(X[te])
            worst = max(worst, float(np.max(np.abs(pred - reuse_preds[i]))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-estimators", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default="lightgbm,xgboost")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    X, Y = make_panel(args.rows, args.features, args.targets, args.seed)
    splits = folds(args.rows, args.folds)
    report: dict[str, Any] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "families": {},
    }
    for name in args.families.split(","):
        if name in ("xgboost", "catboost"):
            try:
                __import__(name)
            except ImportError:
                print(f"{name} not installed; skipped")
                continue
        threads_key = {"lightgbm": "num_threads", "catboost": "thread_count"}.get(name, "nthread")
        params = {"n_estimators": args.n_estimators, threads_key: args.threads}
        result = run_family(get_family(name), params, X, Y, splits, args.repeats)
        report["families"][name] = result
        print(
            f"{name}: fresh {result['fresh_s']:.1f}s, reuse {result['reuse_s']:.1f}s, "
            f"x{result['speedup']:.2f}; max |diff| vs fresh "
            f"{result['max_abs_pred_diff_vs_fresh']:.3g}, vs same bins "
            f"{result['max_abs_pred_diff_vs_same_bins']:.3g}; OOF corr "
            f"{result['mean_oof_corr_fresh']:.4f} / {result['mean_oof_corr_reuse']:.4f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark: are the ranking's p-values calibrated under the null? (not a test; run by hand)

Two phases, so the test can be changed without refitting anything:

1. ``collect``: builds null panels with its own generator (below, not
   ``make_panel``), fits the ranking families with the stage's own code
   (``plan_targets`` + ``family_job``/``fit_families``: bin-once reuse for LightGBM, one
   multi-target solve per fold for ridge) under one validation scheme, and
   stores every target's per-timestamp rank-IC series (each family and the
   consensus) in a cache file. ``power`` does the same on ``make_panel`` panels
   with planted weak skill.
2. ``report``: turns the cached series into p-values by the old test (the
   ranking's test before this benchmark: max of Newey-West and sub-series
   s.e., t(floor(T'/h) - 1)) and by :func:`panelml.validation.ic_significance`,
   and writes ``bench/results/calibration.json``.

The null generator: ``n_symbols`` x ``n_bars`` panels with 10 features, each an
AR(1) per symbol (persistence ``phi``) plus a common AR(1) factor (phi 0.9,
loading 0.5) that moves all symbols together; shocks Gaussian or Student t3
(heavy tails, scaled to unit variance); optionally 5% of feature values and 3%
of target values missing. A null target of horizon h is the forward sum of h
iid shocks (idiosyncratic plus a common market shock), so overlapping windows
make the IC series MA(h-1) without any cross-sectional skill.

    python bench/calibration.py collect --scheme purged_kfold --cache /path/kfold.npz
    python bench/calibration.py collect --scheme walk_forward --cache /path/wf.npz
    python bench/calibration.py power --cache /path/power.npz
    python bench/calibration.py report --cache /path/kfold.npz /path/wf.npz \\
        --power-cache /path/power.npz   # caches of one scheme (other --seed) are pooled

``--families ridge`` runs a quick ridge-only collection; ``--panels`` sets how
many panels (default 50: 8 null targets per horizon and panel, 400 per horizon).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from panelml.data.panel import Panel
from panelml.validation.metrics import ic_series, ic_summary
from panelml.validation.multiple_testing import adjust_pvalues
from panelml.validation.ranks import cross_sectional_ranks
from panelml.validation.spec import ValidationConfig

RESULTS = Path(__file__).parent / "results" / "calibration.json"
HORIZONS = (1, 2, 5, 10, 20)
FDR = 0.10
F64 = npt.NDArray[np.float64]

# (symbols, bars, feature persistence, heavy tails, missing values): cycled over panels
SHAPES: tuple[tuple[int, int, float, bool, bool], ...] = (
    (20, 500, 0.95, False, False),
    (40, 320, 0.0, True, True),
    (100, 250, 0.9, True, False),
    (200, 250, 0.3, False, True),
    (30, 1000, 0.97, True, True),
    (25, 2000, 0.5, False, False),
)

# planted weak skill per horizon for the power table (make_panel's strength)
POWER_STRENGTH = {1: 0.04, 2: 0.05, 5: 0.07, 10: 0.09, 20: 0.12}


# ----------------------------------------------------------------------------- null panels


def _shocks(rng: np.random.Generator, shape: tuple[int, ...], heavy: bool) -> F64:
    if heavy:
        return rng.standard_t(3, size=shape) / math.sqrt(3.0)
    return rng.standard_normal(shape)


def _ar1(shocks: F64, phi: float) -> F64:
    out = np.empty_like(shocks)
    out[0] = shocks[0]
    scale = math.sqrt(1.0 - phi * phi)
    for t in range(1, shocks.shape[0]):
        out[t] = phi * out[t - 1] + scale * shocks[t]
    return out


def null_panel(
    seed: int, shape: tuple[int, int, float, bool, bool], per_horizon: int, n_features: int = 10
) -> Panel:
    """A panel whose targets are all noise: forward sums of iid shocks (module docstring)."""
    n_symbols, n_bars, phi, heavy, missing = shape
    rng = np.random.default_rng(seed)
    common = _ar1(rng.standard_normal((n_bars, 1)), 0.9)  # time x 1
    idio = _ar1(_shocks(rng, (n_bars, n_symbols, n_features), heavy), phi)
    X = idio + 0.5 * common[:, :, None]  # time x symbol x feature
    if missing:
        X[rng.random(X.shape) < 0.05] = np.nan
    targets: dict[str, F64] = {}
    horizons: dict[str, int] = {}
    for h in HORIZONS:
        for j in range(per_horizon):
            u = _shocks(rng, (n_bars, n_symbols), heavy) + 0.5 * rng.standard_normal((n_bars, 1))
            cum = np.cumsum(u, axis=0)
            y = np.full_like(u, np.nan)
            y[: n_bars - h] = cum[h:] - cum[:-h]  # y[t] = u[t+1] + ... + u[t+h]
            if missing:
                y[rng.random(y.shape) < 0.03] = np.nan
            name = f"null_h{h:02d}_{j}"
            targets[name] = y.reshape(-1)
            horizons[name] = h
    timestamps = np.repeat(np.arange(n_bars, dtype=np.int64), n_symbols)
    codes = np.tile(np.arange(n_symbols, dtype=np.int32), n_bars)
    return Panel.build(
        X=X.reshape(n_bars * n_symbols, n_features).astype(np.float32),
        feature_names=[f"x{i}" for i in range(n_features)],
        targets=targets,
        horizons=horizons,
        target_kinds=dict.fromkeys(targets, "regression"),
        timestamps=timestamps,
        symbol_codes=codes,
        symbols=[f"S{i:03d}" for i in range(n_symbols)],
        source=f"<calibration null seed={seed}>",
    )


def power_panel(seed: int) -> Panel:
    """A make_panel panel with, per horizon, two weakly planted linear targets and one noise."""
    from panelml.data.synthetic import TargetSpec, make_panel

    specs: list[TargetSpec] = []
    for h in HORIZONS:
        specs.append(TargetSpec(f"skill_h{h:02d}_a", h, POWER_STRENGTH[h], "linear", (1,)))
        specs.append(TargetSpec(f"skill_h{h:02d}_b", h, POWER_STRENGTH[h], "linear", (3, 4)))
        specs.append(TargetSpec(f"noise_h{h:02d}", h, 0.0, "none"))
    synthetic = make_panel(
        n_symbols=50,
        n_timestamps=400,
        n_signal_features=6,
        n_noise_features=6,
        targets=specs,
        leaks=False,
        seed=seed,
    )
    horizons = {s.name: s.horizon for s in specs}
    return synthetic.to_panel(synthetic.data_config(horizons=horizons))


# ----------------------------------------------------------------------------- fitting


def ic_series_of_panel(
    panel: Panel, validation: ValidationConfig, families: list[str], seed: int
) -> dict[str, dict[str, F64]]:
    """Per target: each family's and the consensus' per-timestamp rank-IC series.

    Mirrors ``TargetRankingStage.run`` with default params: demeaned labels,
    early stopping on the inner purged block, ranking family defaults.
    """
    from panelml.models import get_family
    from panelml.stages.fitting import PreparedCache, merge_family_params, model_label
    from panelml.stages.ranking import RANKING_FAMILY_DEFAULTS
    from panelml.stages.ranking._families import family_job, fit_families
    from panelml.stages.ranking._fit import PlanSettings, plan_targets

    settings = PlanSettings(
        min_rows=200,
        min_timestamps=30,
        min_minority_share=0.02,
        max_rows_per_timestamp=None,
        timestamp_stride=1,
        early_stopping_fraction=0.2,
        seed=seed,
    )
    names = list(panel.target_names)
    plans = [p for p in plan_targets(panel, names, {}, validation, settings) if p.scorable]
    labels = {p.name: model_label(panel, p.name, p.kind == "regression") for p in plans}
    cache = PreparedCache(panel)
    oof: dict[str, dict[str, F64]] = {}
    for fam in families:
        family = get_family(fam)
        params = merge_family_params(
            family,
            {},
            defaults=RANKING_FAMILY_DEFAULTS.get(family.name),
            n_jobs=1,
            deterministic=False,
        )
        (out,) = fit_families(
            [
                family_job(
                    panel,
                    family,
                    params,
                    plans,
                    validation,
                    cache,
                    early_stopping=True,
                    settings=settings,
                    labels=labels,
                    seed_for=lambda t, f=fam: zlib.crc32(f"{seed}|{f}|{t}".encode()),
                )
            ]
        )
        oof[fam] = out.oof
    result: dict[str, dict[str, F64]] = {}
    for plan in plans:
        rows = plan.rows
        y = labels[plan.name][rows]
        ts = panel.timestamps[rows]
        stacked = np.vstack([oof[f][plan.name][rows] for f in families])
        keep = np.isfinite(stacked).all(axis=0) & np.isfinite(y)
        stacked, y, ts = stacked[:, keep], y[keep], ts[keep]
        series: dict[str, F64] = {}
        ranks = np.empty_like(stacked)
        for i, fam in enumerate(families):
            series[fam] = np.asarray(ic_series(stacked[i], y, ts, min_names=5).values)
            ranks[i] = cross_sectional_ranks(stacked[i], ts)
        if len(families) > 1:
            series["consensus"] = np.asarray(
                ic_series(ranks.mean(axis=0), y, ts, min_names=5).values
            )
        result[plan.name] = series
    return result


def collect(args: argparse.Namespace) -> None:
    """Fit null panels under one scheme and store every IC series in ``args.cache``."""
    validation = ValidationConfig(scheme=args.scheme)
    families = args.families.split(",")
    store: dict[str, Any] = {}
    meta: list[dict[str, Any]] = []
    started = time.perf_counter()
    for k in range(args.panels):
        shape = SHAPES[k % len(SHAPES)]
        seed = args.seed * 100_003 + k
        panel = null_panel(seed, shape, args.per_horizon)
        t0 = time.perf_counter()
        found = ic_series_of_panel(panel, validation, families, seed)
        for target, series in found.items():
            for which, values in series.items():
                store[f"{k}|{target}|{which}"] = values
        meta.append(
            {"panel": k, "seed": seed, "shape": list(shape), "seconds": time.perf_counter() - t0}
        )
        print(f"panel {k} {shape} {time.perf_counter() - t0:.1f}s", flush=True)
        _save(
            args.cache, store, meta, {"scheme": args.scheme, "families": families, "kind": "null"}
        )
    print(f"done in {time.perf_counter() - started:.0f}s", flush=True)


def collect_power(args: argparse.Namespace) -> None:
    """Fit planted-skill make_panel panels and store their IC series."""
    families = args.families.split(",")
    store: dict[str, Any] = {}
    meta: list[dict[str, Any]] = []
    for k in range(args.panels):
        panel = power_panel(args.seed * 1_000 + k)
        t0 = time.perf_counter()
        for scheme in args.schemes.split(","):
            found = ic_series_of_panel(panel, ValidationConfig(scheme=scheme), families, k)
            for target, series in found.items():
                for which, values in series.items():
                    store[f"{k}|{target}|{which}|{scheme}"] = values
        meta.append({"panel": k, "seconds": time.perf_counter() - t0})
        print(f"power panel {k} {time.perf_counter() - t0:.1f}s", flush=True)
        _save(args.cache, store, meta, {"families": families, "kind": "power"})


def _save(
    path: str, store: dict[str, Any], meta: list[dict[str, Any]], info: dict[str, Any]
) -> None:
    tmp = Path(path + ".part")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, __meta__=json.dumps({**info, "panels": meta}), **store)
    tmp.replace(path)


def _load(path: str) -> tuple[dict[str, Any], dict[str, F64]]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
        series = {k: np.asarray(data[k], dtype=np.float64) for k in data.files if k != "__meta__"}
    return meta, series


# ----------------------------------------------------------------------------- tests compared


def old_test(values: F64, horizon: int) -> float:
    """The ranking's one-sided p-value before this benchmark (kept here for "before")."""
    summary = ic_summary(values, horizon)
    nw = math.nan
    if math.isfinite(summary.t_stat_nw) and summary.t_stat_nw != 0.0:
        nw = abs(summary.mean / summary.t_stat_nw)
    ses: list[float] = []
    for start in range(horizon):
        part = values[start::horizon]
        if part.size >= 2:
            ses.append(float(part.std(ddof=1)) / math.sqrt(part.size))
    candidates = [v for v in (nw, float(np.mean(ses)) if ses else math.nan) if math.isfinite(v)]
    se = max(candidates) if candidates else math.nan
    if not math.isfinite(se) or se <= 0.0:
        return math.nan
    df = max(1, summary.n_periods // horizon - 1)
    return float(stats.t.sf(summary.mean / se, df=df))


def new_test(values: F64, horizon: int, scheme: str, families: list[str]) -> float:
    from panelml.validation.significance import ic_significance

    test = ic_significance(values, horizon, scheme=scheme, families=families)  # type: ignore[arg-type]
    return test.p_value


def _horizon_of(target: str) -> int:
    return int(target.split("_h")[1][:2])


def calibration_table(meta: dict[str, Any], series: dict[str, F64]) -> dict[str, Any]:
    """Per method, horizon and series kind: null p-value shares, KS p, runs with any false pick."""
    scheme = meta["scheme"]
    out: dict[str, Any] = {}
    kinds = sorted({key.split("|")[2] for key in series})
    for method in ("before", "after"):
        out[method] = {}
        for kind in kinds:
            families = meta["families"] if kind == "consensus" else [kind]

            def fn(v: F64, h: int, fams: list[str] = families, m: str = method) -> float:
                return old_test(v, h) if m == "before" else new_test(v, h, scheme, fams)

            rows: list[tuple[int, int, float, float]] = []  # panel, h, p, mean
            for key, values in series.items():
                panel, target, which = key.split("|")
                if which == kind:
                    h = _horizon_of(target)
                    rows.append((int(panel), h, fn(values, h), float(np.mean(values))))
            out[method][kind] = _summarise(rows)
    return out


def _summarise(rows: list[tuple[int, int, float, float]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    panels = sorted({r[0] for r in rows})
    any_all = []
    for panel in panels:
        mine = [r for r in rows if r[0] == panel]
        any_all.append(_any_selected(mine))
    for h in HORIZONS:
        ps = np.array([r[2] for r in rows if r[1] == h])
        ps = np.where(np.isnan(ps), 1.0, ps)
        n = int(ps.size)
        if n == 0:
            continue
        per_panel = [_any_selected([r for r in rows if r[0] == k and r[1] == h]) for k in panels]
        table[str(h)] = {
            "n": n,
            "share_p_below_0.05": float(np.mean(ps < 0.05)),
            "tolerance_0.05": [
                0.05 - 3 * math.sqrt(0.05 * 0.95 / n),
                0.05 + 3 * math.sqrt(0.05 * 0.95 / n),
            ],
            "share_p_below_0.01": float(np.mean(ps < 0.01)),
            "ks_p": float(stats.kstest(ps, "uniform").pvalue),
            "share_runs_any_false_selection": float(np.mean(per_panel)),
        }
        row = table[str(h)]
        low, high = row["tolerance_0.05"]
        row["meets_targets"] = bool(
            low <= row["share_p_below_0.05"] <= high
            and row["share_p_below_0.01"] <= 0.02
            and row["ks_p"] >= 0.01
            and row["share_runs_any_false_selection"] <= 0.10
        )
    table["all_horizons_runs_any_false_selection"] = (
        float(np.mean(any_all)) if any_all else math.nan
    )
    table["n_runs"] = len(panels)
    return table


def _any_selected(rows: list[tuple[int, int, float, float]]) -> bool:
    if not rows:
        return False
    p = np.array([r[2] for r in rows])
    p = np.where(np.isnan(p), 1.0, p)
    q = adjust_pvalues(p, "by")
    means = np.array([r[3] for r in rows])
    return bool(np.any((q <= FDR) & (means > 0)))


def variance_ratios(series: dict[str, F64]) -> dict[str, dict[str, float]]:
    """var(z), z = Phi^-1(1 - p) with p from the test *without* a fold factor, per series
    kind and horizon: the factor by which the folds inflate the variance of the mean IC
    beyond what the series itself shows (1 = none; 2 = the linear K-fold value)."""
    from panelml.validation.significance import ic_significance

    zs: dict[str, dict[str, list[float]]] = {}
    for key, values in series.items():
        _, target, which = key.split("|")[:3]
        h = _horizon_of(target)
        p = ic_significance(values, h, scheme="single_split").p_value
        if math.isfinite(p):
            zs.setdefault(which, {}).setdefault(str(h), []).append(float(stats.norm.isf(p)))
    return {w: {h: float(np.var(z, ddof=1)) for h, z in by_h.items()} for w, by_h in zs.items()}


def power_table(meta: dict[str, Any], series: dict[str, F64]) -> dict[str, Any]:
    """Share of planted targets found (BY q <= 0.10 over the panel's targets, mean > 0)."""
    out: dict[str, Any] = {}
    schemes = sorted({k.split("|")[3] for k in series})
    for scheme in schemes:
        for method in ("before", "after"):
            found: dict[int, list[bool]] = {h: [] for h in HORIZONS}
            false_runs: list[bool] = []
            panels = sorted({int(k.split("|")[0]) for k in series})
            for panel in panels:
                keys = [
                    k
                    for k in series
                    if k.startswith(f"{panel}|") and k.endswith(f"|consensus|{scheme}")
                ]
                names = [k.split("|")[1] for k in keys]
                p = []
                for k, name in zip(keys, names, strict=True):
                    h = _horizon_of(name)
                    v = series[k]
                    p.append(
                        old_test(v, h)
                        if method == "before"
                        else new_test(v, h, scheme, meta["families"])
                    )
                pa = np.where(np.isnan(np.array(p)), 1.0, np.array(p))
                q = adjust_pvalues(pa, "by")
                means = np.array([float(np.mean(series[k])) for k in keys])
                hit = (q <= FDR) & (means > 0)
                for name, ok in zip(names, hit, strict=True):
                    if name.startswith("skill"):
                        found[_horizon_of(name)].append(bool(ok))
                false_runs.append(
                    any(ok for name, ok in zip(names, hit, strict=True) if name.startswith("noise"))
                )
            out.setdefault(scheme, {})[method] = {
                **{str(h): float(np.mean(v)) if v else math.nan for h, v in found.items()},
                "n_planted_per_horizon": len(found[1]),
                "runs_with_a_noise_target_selected": float(np.mean(false_runs)),
            }
    return out


def report(args: argparse.Namespace) -> None:
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "fdr": FDR,
        "fdr_method": "by",
        "horizons": list(HORIZONS),
        "shapes": [list(s) for s in SHAPES],
        "power_strength": {str(h): s for h, s in POWER_STRENGTH.items()},
        "calibration": {},
    }
    merged: dict[str, tuple[dict[str, Any], dict[str, F64]]] = {}
    for i, path in enumerate(args.cache):  # caches of one scheme are pooled (distinct seeds)
        meta, series = _load(path)
        scheme = meta["scheme"]
        renamed = {
            f"{i * 100_000 + int(k.split('|', 1)[0])}|{k.split('|', 1)[1]}": v
            for k, v in series.items()
        }
        if scheme in merged:
            merged[scheme][0]["panels"] += meta["panels"]
            merged[scheme][1].update(renamed)
        else:
            merged[scheme] = (meta, renamed)
    for scheme, (meta, series) in merged.items():
        result["calibration"][scheme] = {
            "families": meta["families"],
            "n_panels": len(meta["panels"]),
            "fit_seconds": sum(p["seconds"] for p in meta["panels"]),
            "null_t_variance_factor": variance_ratios(series),
            **calibration_table(meta, series),
        }
    if args.power_cache:
        meta, series = _load(args.power_cache)
        result["power"] = {"families": meta["families"], **power_table(meta, series)}
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--scheme", default="purged_kfold", choices=["purged_kfold", "walk_forward"])
    c.add_argument("--families", default="lightgbm,ridge")
    c.add_argument("--panels", type=int, default=50)
    c.add_argument("--per-horizon", type=int, default=8)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--cache", required=True)
    p = sub.add_parser("power")
    p.add_argument("--families", default="lightgbm,ridge")
    p.add_argument("--schemes", default="purged_kfold,walk_forward")
    p.add_argument("--panels", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cache", required=True)
    r = sub.add_parser("report")
    r.add_argument("--cache", nargs="+", required=True)
    r.add_argument("--power-cache", default=None)
    r.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    {"collect": collect, "power": collect_power, "report": report}[args.command](args)


if __name__ == "__main__":
    main()

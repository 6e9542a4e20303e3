"""The diagnostics and folds sections rendered from hand-built results (no browser)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
from report_fakes import TrainingTables, all_results, check_html, fake_config, section_html

from panelml.report import ReportInputs, render_report
from panelml.validation.splitters import PurgedKFold

N_TS, N_SYM = 120, 12
DAY = 86_400_000_000_000


def _oof(seed: int, *, binary: bool, probabilities: bool, folds: np.ndarray) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N_TS * N_SYM)
    y = 0.3 * x + rng.normal(size=x.size)
    if binary:
        y = (y > 0).astype(float)
    families = {}
    for name in ("lightgbm", "linear"):
        raw = x + rng.normal(size=x.size)
        families[name] = 1 / (1 + np.exp(-raw)) if probabilities else raw
    return pl.DataFrame(
        {
            "symbol": np.tile([f"S{i}" for i in range(N_SYM)], N_TS),
            "timestamp": pl.Series(np.repeat(np.arange(N_TS) * DAY, N_SYM)).cast(pl.Datetime("ns")),
            "target": y,
            **families,
            "ensemble": (families["lightgbm"] + families["linear"]) / 2,
            "fold": np.repeat(folds, N_SYM),
        }
    )


def _kfold_ids(n_splits: int = 3) -> np.ndarray:
    ids = np.full(N_TS, -1)
    for k, (_, test) in enumerate(PurgedKFold(n_splits, horizon=5).timestamp_splits(N_TS)):
        ids[test] = k
    return ids


def _inputs(
    *, folds: np.ndarray | None = None, scheme: str = "purged_kfold", **kw: Any
) -> ReportInputs:
    folds = _kfold_ids() if folds is None else folds
    tables = {
        "oof_ret": _oof(1, binary=False, probabilities=False, folds=folds),
        "oof_up_rank": _oof(2, binary=True, probabilities=False, folds=folds),
        "oof_up_prob": _oof(3, binary=True, probabilities=True, folds=folds),
    }
    meta = {
        "families": ["lightgbm", "linear"],
        "oof_tables": {t.removeprefix("oof_"): t for t in tables},
    }
    config = fake_config()
    config["validation"] = {"scheme": scheme, "n_splits": 3, "embargo": 2, "min_names": 5}
    base: dict[str, Any] = {
        "config": config,
        "results": {**all_results(), "training": TrainingTables(tables, meta)},
        "horizons": {"ret": 5, "up_rank": 5, "up_prob": 5},
        "target_kinds": {"ret": "regression", "up_rank": "binary", "up_prob": "binary"},
        "timestamps": [int(t) for t in np.arange(N_TS) * DAY],
        "timestamp_dtype": "datetime[ns]",
        "data_shape": {"timestamps": N_TS},
    }
    base.update(kw)
    return ReportInputs(**base)


def _charts(html: str) -> list[str]:
    return re.findall(r'<svg[^>]*aria-label="([^"]*)"', html)


def test_every_diagnostic_per_target_and_calibration_for_binary_only() -> None:
    html = render_report(_inputs())
    check_html(html)
    diagnostics = section_html(html, "diagnostics")
    labels = _charts(diagnostics)
    for target in ("ret", "up_rank", "up_prob"):
        mine = [label for label in labels if label.endswith(f" {target}") or f" {target} " in label]
        assert len(mine) == (6 if target == "ret" else 7), (target, mine)
    assert "calibration of ret" not in labels
    # family outputs outside [0, 1] are not probabilities: the plot says it shows ranks
    assert "a rank, not a probability" in diagnostics
    assert "mean of the families' probabilities" in diagnostics
    assert diagnostics.count('class="marker"') >= 3 * 2  # fold starts on cumulative IC
    assert "t = " in diagnostics and "uniform lag 4" in diagnostics  # horizon 5


def test_fold_timeline_matches_the_oof_folds_and_says_when_it_does_not() -> None:
    folds = section_html(render_report(_inputs()), "folds")
    assert "horizon 5 (ret, up_prob, up_rank)" in folds
    assert "PurgedKFold: 3 splits over 120 bars, horizon 5 bars, embargo 2 bars" in folds
    for kind in ("train", "purge", "embargo", "test"):
        assert f"{kind}, " in folds  # span tooltips name each role
    assert "do not match" not in folds
    shifted = np.roll(_kfold_ids(), 10)
    assert "do not match" in section_html(render_report(_inputs(folds=shifted)), "folds")


def test_a_scheme_without_a_fold_factor_gets_no_t_and_no_timeline() -> None:
    html = render_report(_inputs(scheme="bootstrap"))
    assert "has no fold factor for the test" in section_html(html, "diagnostics")
    assert "cannot be regenerated" in section_html(html, "folds")


def test_without_training_both_sections_say_so() -> None:
    results = {k: v for k, v in all_results().items() if k != "training"}
    html = render_report(_inputs(results=results))
    assert "training did not run" in section_html(html, "diagnostics")
    assert "No target was trained" in section_html(html, "folds")


def test_data_warnings_come_first_and_their_absence_is_said() -> None:
    html = render_report(_inputs(data_warnings=["3 infinite value(s) in 'f1' treated as missing"]))
    assert html.index('id="data-warnings"') < html.index('<section id="summary">')
    assert "3 infinite value(s)" in section_html(html, "data-warnings")
    clean = render_report(_inputs())
    assert 'id="data-warnings"' not in clean
    assert clean.index("raised no warnings") < clean.index('<section id="summary">')


def test_many_symbols_are_thinned_and_degenerate_predictions_get_notes() -> None:
    rng = np.random.default_rng(4)
    n_sym, n_ts = 220, 40
    x = rng.normal(size=n_sym * n_ts)
    wide = pl.DataFrame(
        {
            "symbol": np.tile([f"S{i:03d}" for i in range(n_sym)], n_ts),
            "timestamp": np.repeat(np.arange(n_ts), n_sym),
            "target": x + rng.normal(size=x.size),
            "ensemble": x,
        }
    )
    flat = wide.with_columns(pl.lit(0.5).alias("ensemble"))
    tables = {"oof_wide": wide, "oof_flat": flat}
    meta = {"oof_tables": {"wide": "oof_wide", "flat": "oof_flat"}}
    html = render_report(
        ReportInputs(results={"training": TrainingTables(tables, meta)}, horizons={"wide": 1})
    )
    check_html(html)
    diagnostics = section_html(html, "diagnostics")
    assert "220 symbols, best to worst (200 evenly spaced shown)" in diagnostics
    chart = re.search(r'<svg[^>]*aria-label="rank IC of wide per symbol".*?</svg>', diagnostics)
    assert chart is not None and chart.group(0).count('class="bar"') == 200
    assert "10 buckets" in diagnostics  # 220 names a timestamp: deciles
    assert "Too few timestamps with enough names" in diagnostics  # the flat target
    assert "mean rank IC of wide per period" in diagnostics  # integer timestamps

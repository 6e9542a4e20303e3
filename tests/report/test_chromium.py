"""The demo's report in a real headless Chromium: loads cleanly, every chart draws, screenshots.

A small demo (the demo's panel generator and pipeline, 30 symbols x 200 bars,
one regression and one binary target trained, one infinite feature value
planted so that a data warning exists) runs in-process, then the distribution's
``chromium`` opens its ``report.html`` through the DevTools protocol
(:mod:`chromium`). In CI (``CI=true``) a missing Chromium fails the test:
``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from chromium import Browser, find_chromium

import panelml
from panelml.data import write_demo_data
from panelml.demo import DEMO_CONFIG
from panelml.report import SECTIONS

TRAINED = ("fwd_ret_5", "y_up_5")

MARKS_JS = """
Array.from(document.querySelectorAll("svg")).map(function (svg) {
  var marks = Array.from(svg.querySelectorAll(".mark, .bar, .cell, .span, path.line, .dot"));
  var drawn = marks.filter(function (m) {
    var b = m.getBBox(); return b.width > 0 && b.height > 0;
  });
  var box = svg.getBoundingClientRect();
  return {label: svg.getAttribute("aria-label"), marks: marks.length, drawn: drawn.length,
          width: box.width, height: box.height};
})
"""

SORT_JS = """
(function () {
  var table = document.querySelector("#training table.data");
  var heads = Array.from(table.tHead.rows[0].cells);
  var col = heads.findIndex(function (th) { return th.textContent.trim() === "ic_mean"; });
  heads[col].click();
  var values = Array.from(table.tBodies[0].rows).map(function (row) {
    return Number(row.cells[col].textContent);
  });
  return {sort: heads[col].getAttribute("aria-sort"), values: values};
})()
"""


def _chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs the distribution's package")
        pytest.skip("chromium is not installed (CI installs it)")
    return binary


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chromium-demo")
    path = write_demo_data(root / "data", n_symbols=30, n_timestamps=200, seed=3)
    frame = pl.read_parquet(path)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(float("inf"))
        .otherwise(pl.col("feat_03"))
        .alias("feat_03")
    )
    frame.write_parquet(path)
    config: dict[str, Any] = json.loads(json.dumps(DEMO_CONFIG))
    config["data"]["path"] = str(path)
    config["runtime"].update(output_dir=str(root / "runs"), cache_dir=str(root / "cache"))
    config["target_ranking"] = {"top_n": 2, "fdr": 0.10}
    # selection for one target only; the trained targets use every feature the screen kept,
    # so both are trained whatever selection finds on a panel this small
    config["feature_selection"] = {"top_n": 6, "permutation_top_k": 5, "targets": ["fwd_vol_5"]}
    config["training"] = {"targets": list(TRAINED)}
    result = panelml.run(config, quiet=True)
    out = Path(result.run_dir) / "report.html"
    assert out.is_file()
    return out


def test_demo_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    binary = _chromium()
    html = report.read_text(encoding="utf-8")
    assert len(html.encode()) < 1_000_000, "the report should stay small"
    with Browser(binary, tmp_path / "profile") as browser:
        browser.open(report)
        assert browser.problems() == []
        assert [u for u in browser.requests() if u != report.resolve().as_uri()] == []
        charts = browser.evaluate(MARKS_JS)
        assert len(charts) >= 2 * 6 + 1 + 1  # diagnostics per target, calibration, folds
        empty = [c["label"] for c in charts if c["drawn"] == 0 or c["width"] <= 0]
        assert empty == []
        labels = [str(c["label"]) for c in charts]
        for target in TRAINED:
            for what in (
                "by prediction bucket",
                "cumulative rank IC",
                "distribution of the",
                "mean rank IC of",
                "rank autocorrelation of",
                "per symbol",
            ):
                assert any(what in label and target in label for label in labels), what
        assert "calibration of y_up_5" in labels and "calibration of fwd_ret_5" not in labels
        assert "folds for horizon 5" in labels
        layout = browser.evaluate(
            "Array.from(document.querySelectorAll('#data-warnings, section[id]'))"
            ".map(function (s) { return [s.id, s.getBoundingClientRect().top]; })"
        )
        ids = [sid for sid, _ in layout]
        assert ids[0] == "data-warnings" and "infinite" in html
        assert [s for s in ids if s != "data-warnings"] == [sid for sid, _ in SECTIONS]
        assert "do not match" not in html  # the regenerated folds are the ones used
        sorted_ic = browser.evaluate(SORT_JS)
        assert sorted_ic["sort"] == "ascending"
        assert sorted_ic["values"] == sorted(sorted_ic["values"])
        light = browser.screenshot(tmp_path / "report-light.png")
        browser.open(report, dark=True)
        assert browser.problems() == []
        background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        dark = browser.screenshot(tmp_path / "report-dark.png")
    for shot in (light, dark):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000

"""The rendered page: well-formed, self-contained, deterministic, every section."""

from __future__ import annotations

import re

import polars as pl
from report_fakes import (
    SELECTED,
    TARGETS,
    all_results,
    assert_no_external_refs,
    check_html,
    fake_config,
    leakage_result,
    ranking_result,
    section_html,
    stability_result,
)

from panelml.pipeline.results import TableResult
from panelml.report import SECTIONS, ReportInputs, render_report
from panelml.report.style import STATUS_COLOURS

SECTION_IDS = [
    "summary",
    "ranking",
    "leakage",
    "selection",
    "training",
    "diagnostics",
    "folds",
    "stability",
]


def full_inputs(**overrides: object) -> ReportInputs:
    base: dict[str, object] = {
        "title": "demo report",
        "experiment": "demo",
        "config": fake_config(),
        "data_shape": {"rows": 1440, "features": 30, "timestamps": 120, "symbols": 12},
        "results": all_results(),
        "pipeline": [s["name"] for s in fake_config()["pipeline"]["stages"]],
        "timestamp_dtype": "datetime[ns]",
    }
    base.update(overrides)
    return ReportInputs(**base)  # type: ignore[arg-type]


def test_full_report_is_well_formed_self_contained_and_has_every_section() -> None:
    html = render_report(full_inputs())
    parser = check_html(html)
    assert [s for s in SECTION_IDS if s in parser.ids] == SECTION_IDS
    assert [sid for sid, _ in SECTIONS] == SECTION_IDS
    assert_no_external_refs(html)
    for sid in SECTION_IDS:
        assert f'href="#{sid}"' in html
        assert 'class="explain"' in section_html(html, sid)


def test_same_inputs_give_identical_bytes() -> None:
    assert render_report(full_inputs()) == render_report(full_inputs())


def test_ranking_chart_has_one_mark_per_target_coloured_by_status() -> None:
    ranking = section_html(render_report(full_inputs()), "ranking")
    marks = re.findall(r'<circle [^>]*class="mark" data-target="([^"]+)"', ranking)
    assert marks == list(TARGETS)
    selected_mark = re.search(r'<circle [^>]*fill="([^"]+)"[^>]*data-target="ret_5d"', ranking)
    assert selected_mark is not None
    assert selected_mark.group(1) == STATUS_COLOURS["selected"]
    leak_mark = re.search(r'<circle [^>]*fill="([^"]+)"[^>]*data-target="leaky_fwd"', ranking)
    assert leak_mark is not None and leak_mark.group(1) == STATUS_COLOURS["suspect_leak"]
    # the legend names every status present, and the table lists every target
    for status in ("selected", "below_top_n", "not_significant", "suspect_leak"):
        assert f">{status}</text>" in ranking
    assert ranking.count("<tr>") == len(TARGETS) + 1


def test_ranking_respects_max_targets_and_says_what_is_hidden() -> None:
    ranking = section_html(render_report(full_inputs(max_targets=2)), "ranking")
    assert len(re.findall(r'class="mark"', ranking)) == 2
    assert "3 more targets not shown" in ranking


def test_target_without_score_still_gets_a_hollow_mark() -> None:
    frame = (
        ranking_result()
        .tables["ranking"]
        .with_columns(
            pl.when(pl.col("target") == "vol_5d")
            .then(None)
            .otherwise(pl.col("score"))
            .alias("score")
        )
    )
    results = {**all_results(), "target_ranking": TableResult({"ranking": frame})}
    ranking = section_html(render_report(full_inputs(results=results)), "ranking")
    assert len(re.findall(r'class="mark"', ranking)) == len(TARGETS)
    assert re.search(r'fill="none"[^>]*data-target="vol_5d"', ranking)


def test_every_missing_input_gives_a_one_line_note() -> None:
    html = render_report(ReportInputs())
    check_html(html)
    assert_no_external_refs(html)
    for sid, stage in [
        ("ranking", "target_ranking"),
        ("leakage", "leakage_screen"),
        ("selection", "feature_selection"),
        ("training", "training"),
        ("stability", "stability"),
    ]:
        assert f"{stage} did not run in this pipeline." in section_html(html, sid)
    assert "not known" in section_html(html, "summary")


def test_stage_in_pipeline_without_result_is_reported_as_skipped() -> None:
    html = render_report(ReportInputs(pipeline=["training"]))
    assert "training produced no result in this run" in section_html(html, "training")


def test_leakage_findings_grouped_by_target_and_empty_screen() -> None:
    leakage = section_html(render_report(full_inputs()), "leakage")
    assert "<h3>ret_1d</h3>" in leakage and "<h3>ret_5d</h3>" in leakage
    assert leakage.index("<h3>ret_1d</h3>") < leakage.index("<h3>ret_5d</h3>")
    assert "1 removed, 2 warned" in leakage or "2 warned, 1 removed" in leakage
    assert '<tr class="removed">' in leakage
    results = {**all_results(), "leakage_screen": leakage_result(empty=True)}
    empty = section_html(render_report(full_inputs(results=results)), "leakage")
    assert "No feature was flagged" in empty


def test_selection_shows_top_features_per_family_frequency_and_stability() -> None:
    selection = section_html(render_report(full_inputs(top_features=5)), "selection")
    for target in SELECTED:
        assert f"<h3>{target}</h3>" in selection
    # selected targets in ranking order
    assert selection.index("<h3>ret_5d</h3>") < selection.index("<h3>ret_1d</h3>")
    assert "lightgbm (gain)" in selection and "linear (coef)" in selection
    assert "selection frequency" in selection
    assert "0.810 (95% CI 0.740 to 0.880): excellent" in selection
    assert "10 of 30 features selected" in selection
    first_table = selection.split("<tbody>")[1].split("</tbody>")[0]
    assert first_table.count("<tr>") == 5
    # one bar per (feature, series) in the first chart: 5 features x 3 series
    first_svg = selection.split("<svg")[1].split("</svg>")[0]
    assert first_svg.count("</rect>") == 5 * 3  # legend squares are self-closing


def test_training_has_metrics_per_family_and_fold_and_oof_ic_chart() -> None:
    training = section_html(render_report(full_inputs()), "training")
    assert "all out-of-fold rows" in training and "rank IC per fold" in training
    assert "<th>fold 0</th><th>fold 1</th><th>fold 2</th>" in training
    for family in ("lightgbm", "linear", "ensemble"):
        assert f"<td>{family}</td>" in training
    # one OOF chart per trained target, each with one line per family + ensemble
    charts = re.findall(r"<svg.*?</svg>", training, re.S)
    assert len(charts) == len(SELECTED)
    assert all(c.count('class="line"') == 3 for c in charts)
    # x labels are dates, not raw nanoseconds
    assert "1970-01-01" in charts[0]
    # columns that are entirely null (auc, log_loss) are left out
    assert "<th>auc</th>" not in training


def test_stability_section_table_and_no_earlier_runs() -> None:
    stability = section_html(render_report(full_inputs()), "stability")
    assert "20240102-000000-bbbbbb" in stability and "kendall_tau" in stability
    results = {**all_results(), "stability": stability_result(empty=True)}
    empty = section_html(render_report(full_inputs(results=results)), "stability")
    assert "no earlier runs" in empty


def test_names_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    results = {"target_ranking": ranking_result((evil,), ("selected",))}
    html = render_report(ReportInputs(title=evil, results=results))
    check_html(html)
    assert evil not in html
    assert html.count("<script>") == 1  # the page's own sort script, nothing injected
    assert "&lt;script&gt;" in html


def test_config_is_shown_as_yaml() -> None:
    summary = section_html(render_report(full_inputs()), "summary")
    assert "experiment:" in summary and "name: demo" in summary
    assert "<td>1440</td>" in summary


def test_results_without_the_expected_tables_or_columns_do_not_crash() -> None:
    odd = TableResult({"ranking": pl.DataFrame({"something": [1, 2]})})
    html = render_report(ReportInputs(results=dict.fromkeys(all_results(), odd)))
    check_html(html)
    assert "has no 'ranking' table" in section_html(html, "ranking")
    assert "has no 'report' table" in section_html(html, "leakage")
    assert "no target" in section_html(html, "selection")
    assert "no target was trained" in section_html(html, "training")
    assert "no earlier runs" in section_html(html, "stability")

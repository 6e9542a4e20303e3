"""``panelml report RUN_DIR``: re-render a report from a finished run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from report_fakes import (
    assert_no_external_refs,
    check_html,
    section_html,
    selection_result,
    write_run_folder,
)
from typer.testing import CliRunner

from panelml.commands.report import register
from panelml.pipeline.results import TableResult


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app (a callback keeps 'report' a subcommand)."""

    register(app)
    return app


def test_rerenders_the_report_of_a_run_folder(app: typer.Typer, tmp_path: Path) -> None:
    run_dir = write_run_folder(tmp_path / "runs" / "demo" / "20240301-100000-abcdef")
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    out = run_dir / "report.html"
    assert result.output.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    check_html(html)
    assert_no_external_refs(html)
    assert "panelml report: demo" in html
    summary = section_html(html, "summary")
    assert "20240301-100000-abcdef" in summary and "30.25" in summary
    # loaded generically from the stage folders
    assert len(re.findall(r'class="mark"', section_html(html, "ranking"))) == 5
    assert "rank IC per fold" in section_html(html, "training")
    # report params come from the saved config (top_features: 8)
    first = section_html(html, "selection").split("<tbody>")[1].split("</tbody>")[0]
    assert first.count("<tr>") == 8


def test_out_option_and_missing_stages(app: typer.Typer, tmp_path: Path) -> None:
    run_dir = write_run_folder(
        tmp_path / "run", {"feature_selection": selection_result(), "broken": TableResult()}
    )
    (run_dir / "training").mkdir()
    (run_dir / "training" / "result.json").write_text("{not json")
    out = tmp_path / "elsewhere" / "r.html"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "training could not be read" in result.output
    assert not (run_dir / "report.html").exists()
    html = out.read_text(encoding="utf-8")
    check_html(html)
    assert "leakage_screen produced no result in this run" in section_html(html, "leakage")


def test_missing_folder_is_a_user_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_folder_without_manifest_is_a_user_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a panelml run folder" in result.output
    assert not (tmp_path / "report.html").exists()


def test_rerender_draws_folds_from_the_saved_facts(app: typer.Typer, tmp_path: Path) -> None:
    run_dir = write_run_folder(tmp_path / "run")
    (run_dir / "report").mkdir()
    facts = {
        "data_shape": {"timestamps": 120},
        "horizons": {"ret_5d": 5, "ret_1d": 1},
        "target_kinds": {"ret_5d": "regression", "ret_1d": "regression"},
        "timestamps": [i * 86_400_000_000_000 for i in range(120)],
        "timestamp_dtype": "datetime[ns]",
    }
    (run_dir / "report" / "report.json").write_text(json.dumps(facts))
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    folds = section_html((run_dir / "report.html").read_text(encoding="utf-8"), "folds")
    assert "horizon 1 (ret_1d)" in folds and "horizon 5 (ret_5d)" in folds
    assert "PurgedKFold: 5 splits over 120 bars" in folds
    assert "1970-04-30" in folds  # bar labels are the panel's dates

"""`panelml demo`: the README's first command runs the whole pipeline and reports
how well it recovered the planted truth."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from panelml.cli import app
from panelml.demo import assess, load_truth


def runs(out: Path) -> list[Path]:
    return [p for p in (out / "runs" / "demo").iterdir() if (p / "manifest.json").exists()]


def test_demo_runs_everything_and_recovers_the_truth(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Recovery:" in result.output and "leaks caught: 3/3" in result.output
    (run_dir,) = runs(out)
    for produced in (
        "manifest.json",
        "report.html",
        "leakage_screen/report.parquet",
        "target_ranking/ranking.parquet",
        "training/metrics.parquet",
        "stability/report.parquet",
    ):
        assert (run_dir / produced).exists(), produced

    recovery = assess(run_dir, load_truth(out))
    assert recovery.leaks_caught == len(recovery.leaks) == 3
    assert recovery.noise_selected == []
    assert recovery.rank_correlation >= 0.75
    selected = [t for t in recovery.targets if t.status == "selected"]
    assert {t.target for t in selected} >= {"fwd_ret_5", "fwd_ret_1"}
    for t in selected:
        assert t.strength > 0
        assert t.found, f"no planted signal feature selected for {t.target}"

    # a second demo in the same folder reuses the data and takes every stage but
    # stability (which reads earlier runs) from the cache
    again = CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert len(runs(out)) == 2
    assert (out / "runs" / "demo" / "stability" / "snapshots.parquet").is_dir()


def test_report_of_a_finished_run_records_its_final_status(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert CliRunner().invoke(app, ["demo", "--out", str(out), "--quiet"]).exit_code == 0
    (run_dir,) = runs(out)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert ">running<" not in html
    assert "<b>finished</b><span>status" in html

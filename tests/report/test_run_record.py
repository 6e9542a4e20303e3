"""The run record: read from manifest or events, filled into the placeholder."""

from __future__ import annotations

import json
from pathlib import Path

from report_fakes import check_html, section_html, write_run_folder

from panelml.report import ReportInputs, fill_run_record, read_run_record, render_report
from panelml.report.run_record import END, START


def write_events(run_dir: Path) -> None:
    events = [
        {
            "event": "PipelineStarted",
            "run_id": "r2",
            "time": 1_700_000_000.0,
            "experiment": "demo",
            "run_dir": str(run_dir),
            "stages": ["leakage_screen", "target_ranking", "training", "report"],
        },
        {
            "event": "StageCached",
            "run_id": "r2",
            "time": 1.0,
            "stage": "leakage_screen",
            "status": "cached",
            "seconds": 0.125,
            "cache_key": "k",
            "fingerprint": "f",
        },
        {
            "event": "StageStarted",
            "run_id": "r2",
            "time": 2.0,
            "stage": "target_ranking",
            "cache_key": "k",
        },
        {
            "event": "StageCompleted",
            "run_id": "r2",
            "time": 3.0,
            "stage": "target_ranking",
            "status": "ran",
            "seconds": 12.5,
            "cache_key": "k",
            "fingerprint": "f",
        },
        {
            "event": "StageSkipped",
            "run_id": "r2",
            "time": 4.0,
            "stage": "training",
            "status": "skipped",
            "reason": "disabled in the config",
        },
    ]
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(e) for e in events) + "\n{not json\n"
    (run_dir / "events.jsonl").write_text(text)


def test_record_from_events_while_the_run_is_in_progress(tmp_path: Path) -> None:
    write_events(tmp_path)
    # the runner writes a 'running' manifest first; the events are newer
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "running", "stages": []}))
    record = read_run_record(tmp_path)
    assert record is not None
    assert record.run_id == "r2" and record.started == "2023-11-14T22:13:20+00:00"
    assert [(s.name, s.status) for s in record.stages] == [
        ("leakage_screen", "cached"),
        ("target_ranking", "ran"),
        ("training", "skipped"),
        ("report", "not finished"),
    ]
    assert record.stages[1].seconds == 12.5
    assert record.stages[2].reason == "disabled in the config"
    assert record.cache_hits == 1


def test_record_from_a_finished_manifest(tmp_path: Path) -> None:
    run_dir = write_run_folder(tmp_path / "20240301-100000-abcdef")
    record = read_run_record(run_dir)
    assert record is not None and record.status == "ok" and record.seconds == 60.0
    assert len(record.stages) == 6 and record.cache_hits == 1


def test_fill_replaces_the_placeholder_and_keeps_the_page_valid(tmp_path: Path) -> None:
    write_events(tmp_path)
    html = render_report(ReportInputs())
    filled = fill_run_record(html, tmp_path)
    check_html(filled)
    summary = section_html(filled, "summary")
    assert START in summary and END in summary
    assert '<td>target_ranking</td><td>ran</td><td class="num">12.50</td>' in summary
    assert "1 of 4 stages" in summary
    assert "is added when the report is published" not in summary
    # filling twice (a re-render) gives the same page
    assert fill_run_record(filled, tmp_path) == filled


def test_fill_without_a_record_leaves_the_page_unchanged(tmp_path: Path) -> None:
    html = render_report(ReportInputs())
    assert fill_run_record(html, tmp_path) == html
    assert fill_run_record("<p>no block</p>", tmp_path) == "<p>no block</p>"

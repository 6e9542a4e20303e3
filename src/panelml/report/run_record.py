"""The run record of a report: run id, start time, and per stage its status,
seconds and whether it came from the cache.

These facts belong to one run, not to the report's inputs: a report loaded from
the cache in a later run must show *that* run's timings. So the rendered report
holds a placeholder block, delimited by two HTML comments, and the record is
filled in when the report is published into a run folder
(:func:`fill_run_record`), read from that folder's ``manifest.json`` once the run
has finished, or from its ``events.jsonl`` while it is still running.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from panelml.report.html import Markup, join, note, table, tag

START = "<!--panelml:run-record-->"
END = "<!--/panelml:run-record-->"
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"

_END_EVENTS = {
    "StageCompleted": "ran",
    "StageCached": "cached",
    "StageSkipped": "skipped",
    "StageFailed": "failed",
}


@dataclass(frozen=True)
class StageRow:
    """What happened to one stage in the run."""

    name: str
    status: str
    seconds: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """The facts of one run shown in the report's summary."""

    run_id: str | None = None
    experiment: str | None = None
    status: str | None = None
    started: str | None = None
    seconds: float | None = None
    stages: list[StageRow] = field(default_factory=list)

    @property
    def cache_hits(self) -> int:
        return sum(1 for s in self.stages if s.status == "cached")


def placeholder() -> Markup:
    """The block that :func:`fill_run_record` replaces."""
    text = note(
        "The run record (timings per stage, cache hits) is added when the report is "
        "published into its run folder."
    )
    return Markup(START + text + END)


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _iso(epoch: Any) -> str | None:
    value = _float(epoch)
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def _from_manifest(manifest: dict[str, Any]) -> RunRecord:
    rows = [
        StageRow(
            name=str(s.get("name", "?")),
            status=str(s.get("status", "?")),
            seconds=_float(s.get("seconds")),
            reason=s.get("reason") or s.get("error"),
        )
        for s in manifest.get("stages", [])
        if isinstance(s, dict)
    ]
    return RunRecord(
        run_id=manifest.get("run_id"),
        experiment=manifest.get("experiment"),
        status=manifest.get("status"),
        started=manifest.get("started"),
        seconds=_float(manifest.get("seconds")),
        stages=rows,
    )


def _from_events(events: list[dict[str, Any]]) -> RunRecord:
    order: list[str] = []
    rows: dict[str, StageRow] = {}
    run_id = experiment = started = None
    for event in events:
        kind = event.get("event")
        if kind == "PipelineStarted":
            run_id, experiment = event.get("run_id"), event.get("experiment")
            started = _iso(event.get("time"))
            order = [str(s) for s in event.get("stages", [])]
        elif kind == "StageStarted":
            name = str(event.get("stage"))
            rows[name] = StageRow(name, "running")
        elif kind in _END_EVENTS:
            name = str(event.get("stage"))
            rows[name] = StageRow(
                name,
                _END_EVENTS[kind],
                _float(event.get("seconds")),
                event.get("reason") or event.get("error"),
            )
    names = order + [n for n in rows if n not in order]
    stages = [rows.get(n, StageRow(n, "not finished")) for n in names]
    return RunRecord(
        run_id=run_id, experiment=experiment, status="running", started=started, stages=stages
    )


def read_run_record(run_dir: Path) -> RunRecord | None:
    """The record of the run in ``run_dir``: from a finished manifest, else from the
    events so far, else ``None``. Unreadable files are treated as absent."""
    manifest: dict[str, Any] | None = None
    try:
        loaded = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        manifest = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        manifest = None
    if manifest is not None and manifest.get("status") not in (None, "running"):
        return _from_manifest(manifest)
    events: list[dict[str, Any]] = []
    try:
        with (run_dir / EVENTS).open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    events.append(record)
    except OSError:
        events = []
    if events:
        return _from_events(events)
    return _from_manifest(manifest) if manifest is not None else None


def render_run_record(record: RunRecord) -> Markup:
    """Key facts as cards, then one table row per stage."""
    total = (
        record.seconds
        if record.seconds is not None
        else sum(s.seconds or 0.0 for s in record.stages)
    )
    cards = [
        ("run", record.run_id or "–"),
        ("started (UTC)", record.started or "–"),
        ("status", record.status or "–"),
        ("seconds", f"{total:.1f}"),
        ("cache hits", f"{record.cache_hits} of {len(record.stages)} stages"),
    ]
    card_html = tag(
        "div",
        [tag("div", tag("b", v), tag("span", k), class_="card") for k, v in cards],
        class_="cards",
    )
    rows = [
        [
            s.name,
            s.status,
            "–" if s.seconds is None else f"{s.seconds:.2f}",
            "yes" if s.status == "cached" else "no",
            s.reason or "",
        ]
        for s in record.stages
    ]
    stage_table = table(["stage", "status", "seconds", "from cache", "note"], rows, numeric=[2])
    return join([tag("h3", "Run"), card_html, stage_table])


def fill_run_record(html_text: str, run_dir: Path) -> str:
    """``html_text`` with its run-record block replaced by the record of ``run_dir``
    (unchanged when there is no block or no record)."""
    start = html_text.find(START)
    end = html_text.find(END, start)
    if start < 0 or end < 0:
        return html_text
    record = read_run_record(run_dir)
    if record is None:
        return html_text
    return html_text[: start + len(START)] + render_run_record(record) + html_text[end:]

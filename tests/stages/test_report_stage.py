"""The ``report`` stage: registered, renders from whatever ran, saves, caches, exports."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from panelml import contracts
from panelml.data.panel import Panel
from panelml.pipeline import registry
from panelml.pipeline.cache import StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import TableResult
from panelml.pipeline.runner import Pipeline
from panelml.pipeline.stage import Stage, StageParams
from panelml.report.run_record import START
from panelml.stages.report import ReportParams, ReportResult, ReportStage, config_data


def _fakes() -> ModuleType:
    """tests/report/report_fakes.py (fakes following the documented result contracts)."""
    path = Path(__file__).resolve().parents[1] / "report" / "report_fakes.py"
    spec = importlib.util.spec_from_file_location("report_fakes", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("report_fakes") or importlib.util.module_from_spec(spec)
    if "report_fakes" not in sys.modules:
        sys.modules["report_fakes"] = module
        spec.loader.exec_module(module)
    return module


fakes = _fakes()


def small_panel() -> Panel:
    n_ts, n_sym = 6, 4
    rng = np.random.default_rng(0)
    return Panel.build(
        X=rng.normal(size=(n_ts * n_sym, 3)).astype(np.float32),
        feature_names=["a", "b", "c"],
        targets={"ret_5d": rng.normal(size=n_ts * n_sym)},
        horizons={"ret_5d": 5},
        target_kinds={"ret_5d": "regression"},
        timestamps=np.repeat(np.arange(n_ts, dtype=np.int64) * 86_400_000_000_000, n_sym),
        symbol_codes=np.tile(np.arange(n_sym, dtype=np.int32), n_ts),
        symbols=[f"S{i}" for i in range(n_sym)],
        timestamp_dtype="date",
    )


def make_ctx(run_dir: Path, run_id: str = "r1", data: Any = None, config: Any = None) -> RunContext:
    return RunContext(
        config=fakes.fake_config() if config is None else config,
        data=small_panel() if data is None else data,
        data_fingerprint="data-v1",
        run_dir=run_dir,
        run_id=run_id,
        experiment="demo",
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
    )


def test_registered_with_optional_inputs_only() -> None:
    assert registry.stages.get("report") is ReportStage
    inputs = ReportStage(ReportParams()).inputs()
    assert all(i.optional for i in inputs)
    assert {i.kind for i in inputs} == {
        contracts.EXCLUSIONS,
        contracts.RANKING_SCORES,
        contracts.FEATURE_CHOICE,
        contracts.TRAINING_METRICS,
        contracts.STABILITY_REPORT,
    }
    assert ReportParams().top_features == 15 and ReportParams().max_targets == 20
    with pytest.raises(ValueError):
        ReportParams(top_features=0)


def test_run_renders_everything_present_and_is_deterministic(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "run")
    ctx.results.update(fakes.all_results())
    stage = ReportStage(ReportParams(title="My report", top_features=4))
    first, second = stage.run(ctx), stage.run(ctx)
    assert isinstance(first, ReportResult)
    assert first.fingerprint() == second.fingerprint() and first == second
    html = first.html
    fakes.check_html(html)
    fakes.assert_no_external_refs(html)
    assert "<title>My report</title>" in html
    summary = fakes.section_html(html, "summary")
    assert "<td>rows</td><td>24</td>" in summary
    assert "<td>first timestamp</td><td>1970-01-01</td>" in summary
    assert "name: demo" in summary  # the config
    assert START in summary  # timings are filled at export, not baked into the result
    assert first.facts["timestamp_dtype"] == "date"


def test_pipeline_without_other_stages_gets_notes(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "run", config={"experiment": {"name": "demo"}})
    html = ReportStage(ReportParams()).run(ctx).html
    fakes.check_html(html)
    for stage in ("leakage_screen", "target_ranking", "feature_selection", "training"):
        assert f"{stage} did not run in this pipeline." in html


def test_save_load_roundtrip_and_export(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    ctx = make_ctx(run_dir)
    ctx.results.update(fakes.all_results())
    result = ReportStage(ReportParams()).run(ctx)
    folder = tmp_path / "saved"
    folder.mkdir()
    result.save(folder)
    loaded = ReportResult.load(folder)
    assert loaded == result and loaded.fingerprint() == result.fingerprint()
    assert (folder / "report.html").read_text(encoding="utf-8") == result.html

    run_dir.mkdir()
    result.export(run_dir)
    published = run_dir / "report.html"
    assert published.read_text(encoding="utf-8") == result.html  # no record to fill in yet
    assert [p.name for p in run_dir.iterdir()] == ["report.html"]  # no temp file left


def test_config_from_a_pydantic_model() -> None:
    class Cfg(BaseModel):
        experiment: dict[str, str]
        path: Path

    data = config_data(Cfg(experiment={"name": "x"}, path=Path("a/b")))
    assert data == {"experiment": {"name": "x"}, "path": "a/b"}
    assert config_data(None) is None


class FakeRanking(Stage[StageParams]):
    """Stands in for target_ranking in a real pipeline."""

    name = "target_ranking"
    result_type = fakes.RankingTables

    def run(self, ctx: RunContext) -> TableResult:
        return fakes.ranking_result()


def test_in_a_pipeline_with_cache_the_published_report_shows_the_current_run(
    tmp_path: Path,
) -> None:
    cache = StageCache(tmp_path / "cache")
    pipeline = Pipeline([FakeRanking(StageParams()), ReportStage(ReportParams())], cache=cache)
    runs = tmp_path / "runs" / "demo"
    first = pipeline.run(make_ctx(runs / "r1", "r1"))
    second = pipeline.run(make_ctx(runs / "r2", "r2"))
    assert [s["status"] for s in second.manifest["stages"]] == ["cached", "cached"]
    assert first.results["report"].fingerprint() == second.results["report"].fingerprint()
    # the report's own row is final too: the runner finalizes results after the manifest
    for run_id, status, own in (("r1", "ran", "ran"), ("r2", "cached", "cached")):
        html = (runs / run_id / "report.html").read_text(encoding="utf-8")
        fakes.check_html(html)
        summary = fakes.section_html(html, "summary")
        assert f"<b>{run_id}</b>" in summary
        assert f"<td>target_ranking</td><td>{status}</td>" in summary
        assert f"<td>report</td><td>{own}</td>" in summary
        assert len(re.findall(r'class="mark"', html)) == 5
    assert (runs / "r2" / "report" / "report.html").is_file()

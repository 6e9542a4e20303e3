"""Shared fixtures: small registered test stages, toy data, a run context factory.

The toy pipeline is ``alpha -> beta -> gamma``: alpha records its param ``x``,
beta multiplies alpha's value by ``mult``, gamma adds ``add`` to beta's value.
``CALLS`` counts how often each stage really computed, so tests can tell a
cache hit from a recompute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import panelml.stability.hooks  # built-in hook plugin registers itself
import panelml.stages  # noqa: F401  (built-in stages register themselves)
from panelml.pipeline import registry
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import JsonResult
from panelml.pipeline.stage import Stage, StageParams

CALLS: Counter[str] = Counter()


@dataclass
class ToyData:
    """Stands in for a Panel: a row count and a fingerprint."""

    n_rows: int = 10
    fingerprint: str = "data-v1"

    def __len__(self) -> int:
        return self.n_rows


class AlphaParams(StageParams):
    x: int = 1


class AlphaStage(Stage[AlphaParams]):
    """Records x."""

    name = "alpha"
    Params = AlphaParams
    result_type = JsonResult

    def run(self, ctx: RunContext) -> JsonResult:
        CALLS["alpha"] += 1
        return JsonResult({"value": self.params.x})


class BetaParams(StageParams):
    mult: int = 2


class BetaStage(Stage[BetaParams]):
    """alpha's value times mult."""

    name = "beta"
    Params = BetaParams
    requires = ("alpha",)
    result_type = JsonResult

    def run(self, ctx: RunContext) -> JsonResult:
        CALLS["beta"] += 1
        return JsonResult({"value": ctx.result("alpha", JsonResult)["value"] * self.params.mult})


class GammaParams(StageParams):
    add: int = 0
    skip_me: bool = False


class GammaStage(Stage[GammaParams]):
    """beta's value plus add; skips itself when skip_me."""

    name = "gamma"
    Params = GammaParams
    requires = ("beta",)
    result_type = JsonResult

    def skip(self, ctx: RunContext) -> str | None:
        return "skip_me is set" if self.params.skip_me else None

    def run(self, ctx: RunContext) -> JsonResult:
        CALLS["gamma"] += 1
        return JsonResult({"value": ctx.result("beta", JsonResult)["value"] + self.params.add})


TOY_STAGES = (AlphaStage, BetaStage, GammaStage)


@pytest.fixture(autouse=True)
def _isolated_registries() -> Iterator[None]:
    """Every test starts and ends with the registries as they were."""
    saved = {reg: reg.registered() for reg in (registry.stages, registry.hook_plugins)}
    yield
    for reg, items in saved.items():
        for name in list(reg.registered()):
            reg.unregister(name)
        for name, obj in items.items():
            reg.register(obj, name=name)


@pytest.fixture
def toy_stages() -> tuple[type[Stage[Any]], ...]:
    """Register alpha, beta, gamma and reset the call counter."""
    CALLS.clear()
    for cls in TOY_STAGES:
        registry.register_stage(cls)
    return TOY_STAGES


@pytest.fixture
def calls() -> Counter[str]:
    CALLS.clear()
    return CALLS


@pytest.fixture
def make_context(tmp_path: Path) -> Callable[..., RunContext]:
    """Build a RunContext for engine tests: ``make_context(run_id="r1", data=...)``."""

    def make(
        run_id: str = "r1",
        data: Any = None,
        events: EventBus | None = None,
        reporter: Reporter | None = None,
    ) -> RunContext:
        data = data if data is not None else ToyData()
        return RunContext(
            config=None,
            data=data,
            data_fingerprint=data.fingerprint,
            run_dir=tmp_path / "runs" / "toy" / run_id,
            run_id=run_id,
            experiment="toy",
            events=events or EventBus(),
            executor=SerialExecutor(),
            reporter=reporter or Reporter(quiet=True),
        )

    return make


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config (a dict dumped as YAML, or raw text) and return its path."""

    def write(content: dict[str, Any] | str, name: str = "experiment.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def toy_data(monkeypatch: pytest.MonkeyPatch) -> ToyData:
    """Make ``panelml.api`` load this ToyData instead of reading ``data.path``.

    Change its ``fingerprint`` to simulate changed data.
    """
    import panelml.api

    data = ToyData()
    monkeypatch.setattr(panelml.api, "_load_data", lambda config: data)
    return data


@pytest.fixture
def toy_config() -> Callable[..., dict[str, Any]]:
    """Builder of a minimal valid config using the toy stages: ``toy_config(beta={...})``."""

    def build(**extra: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "experiment": {"name": "toy"},
            "data": {"path": "panel.parquet"},
            "pipeline": {"stages": ["alpha", "beta", "gamma"]},
        }
        config.update(extra)
        return config

    return build

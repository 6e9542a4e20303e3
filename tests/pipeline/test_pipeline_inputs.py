"""Typed stage inputs: the up-front check, ``ctx.input``, skips, cache keys, contracts.

The toy stages here speak in contract kinds rather than stage names: ``scorer``
and ``rescorer`` both provide a ``"Scores"`` result; ``chooser`` requires
``"Scores"`` and, when asked, reads an optional ``"Hints"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from panelml.pipeline import registry
from panelml.pipeline.cache import StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import ContractError, PipelineOrderError, UserError
from panelml.pipeline.explain import explain
from panelml.pipeline.plan import check_order
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import MANIFEST, Pipeline, PlannedStage
from panelml.pipeline.stage import Input, Stage, StageParams


class ScoresResult(JsonResult):
    """A ``Scores`` result: must hold a numeric ``score``."""

    provides: ClassVar[tuple[str, ...]] = ("Scores",)
    broken: ClassVar[bool] = False
    """Flip to make every instance break its contract (simulates a faulty stage)."""

    def contract_problems(self) -> list[str]:
        if self.broken or not isinstance(self.data.get("score"), int):
            return ["key 'score' is missing or not an integer"]
        return []


class HintsResult(JsonResult):
    provides: ClassVar[tuple[str, ...]] = ("Hints",)


class ScorerParams(StageParams):
    score: int = 1


class Scorer(Stage[ScorerParams]):
    name = "scorer"
    Params = ScorerParams
    result_type = ScoresResult

    def run(self, ctx: RunContext) -> ScoresResult:
        return ScoresResult({"score": self.params.score})


class Rescorer(Scorer):
    name = "rescorer"

    def run(self, ctx: RunContext) -> ScoresResult:
        return ScoresResult({"score": self.params.score * 100})


class BadScorer(Scorer):
    name = "bad_scorer"

    def run(self, ctx: RunContext) -> ScoresResult:
        return ScoresResult({"score": "high"})


class HinterParams(StageParams):
    hint: str = "h"


class Hinter(Stage[HinterParams]):
    name = "hinter"
    Params = HinterParams
    result_type = HintsResult

    def run(self, ctx: RunContext) -> HintsResult:
        return HintsResult({"hint": self.params.hint})


class ChooserParams(StageParams):
    read_hints: bool = False


class Chooser(Stage[ChooserParams]):
    """Copies the score of the latest ``Scores`` provider, and the hint when present."""

    name = "chooser"
    Params = ChooserParams
    result_type = JsonResult

    def inputs(self) -> tuple[Input, ...]:
        hints = (Input("Hints", optional=True),) if self.params.read_hints else ()
        return (Input("Scores"), *hints)

    def run(self, ctx: RunContext) -> JsonResult:
        scores = ctx.input("Scores")
        assert isinstance(scores, ScoresResult)
        hints = ctx.input("Hints")
        return JsonResult(
            {"score": scores["score"], "hint": None if hints is None else hints["hint"]}
        )


@pytest.fixture
def kinds() -> None:
    """Register the toy kind-speaking stages (the conftest fixture restores the registry)."""
    for cls in (Scorer, Rescorer, Hinter, Chooser):
        registry.register_stage(cls)
    ScoresResult.broken = False


def _run(
    make_context: Callable[..., RunContext],
    stages: list[Stage[Any] | PlannedStage],
    *,
    run_id: str = "r1",
    cache: StageCache | None = None,
) -> Any:
    return Pipeline(stages, cache=cache).run(make_context(run_id=run_id))


def test_missing_required_kind_names_the_registered_providers(kinds: None) -> None:
    with pytest.raises(PipelineOrderError) as info:
        check_order([Hinter(HinterParams()), Chooser(ChooserParams())])
    assert str(info.value) == (
        "stage 'chooser' requires a 'Scores' result, which no earlier stage provides; "
        "add 'rescorer' or 'scorer' before 'chooser'"
    )
    assert isinstance(info.value, UserError)


def test_kind_nobody_provides_says_so(kinds: None) -> None:
    registry.stages.unregister("scorer")
    registry.stages.unregister("rescorer")
    with pytest.raises(PipelineOrderError, match="no registered stage provides either"):
        check_order([Chooser(ChooserParams())])


def test_provider_after_the_reader_is_rejected_with_the_move(kinds: None) -> None:
    with pytest.raises(PipelineOrderError) as info:
        Pipeline([Chooser(ChooserParams()), Scorer(ScorerParams())])
    assert "'scorer' provides but runs after it; move 'scorer' before 'chooser'" in str(info.value)


def test_optional_input_may_be_absent_but_not_late(kinds: None) -> None:
    check_order([Scorer(ScorerParams()), Chooser(ChooserParams(read_hints=True))])
    with pytest.raises(PipelineOrderError, match="move 'hinter' before 'chooser'"):
        check_order(
            [
                Scorer(ScorerParams()),
                Chooser(ChooserParams(read_hints=True)),
                Hinter(HinterParams()),
            ]
        )


def test_inputs_may_depend_on_params(kinds: None) -> None:
    assert Chooser(ChooserParams()).inputs() == (Input("Scores"),)
    assert Chooser(ChooserParams(read_hints=True)).inputs()[1] == Input("Hints", optional=True)


def test_legacy_requires_and_uses_become_inputs(toy_stages: Any) -> None:
    beta = toy_stages[1](toy_stages[1].Params())
    assert beta.inputs() == (Input("alpha"),)

    class Reader(Stage[StageParams]):
        name = "reader"
        requires = ("alpha",)
        uses = ("beta",)
        result_type = JsonResult

        def run(self, ctx: RunContext) -> JsonResult:
            return JsonResult()

    assert Reader(StageParams()).inputs() == (Input("alpha"), Input("beta", optional=True))


def test_ctx_input_returns_the_latest_provider(
    kinds: None, make_context: Callable[..., RunContext]
) -> None:
    result = _run(
        make_context,
        [Scorer(ScorerParams(score=2)), Rescorer(ScorerParams(score=3)), Chooser(ChooserParams())],
    )
    assert result.results["chooser"].data == {"score": 300, "hint": None}


def test_optional_input_is_read_when_present(
    kinds: None, make_context: Callable[..., RunContext]
) -> None:
    result = _run(
        make_context,
        [
            Scorer(ScorerParams()),
            Hinter(HinterParams(hint="x")),
            Chooser(ChooserParams(read_hints=True)),
        ],
    )
    assert result.results["chooser"].data == {"score": 1, "hint": "x"}


def test_skipped_provider_skips_the_reader_with_the_kind(
    kinds: None, make_context: Callable[..., RunContext]
) -> None:
    result = _run(
        make_context,
        [PlannedStage(Scorer(ScorerParams()), enabled=False), Chooser(ChooserParams())],
    )
    stages = {s["name"]: s for s in result.manifest["stages"]}
    assert stages["chooser"]["status"] == "skipped"
    assert stages["chooser"]["reason"] == "requires 'Scores', which was skipped"


def test_optional_provider_enters_the_cache_key(
    kinds: None, make_context: Callable[..., RunContext], tmp_path: Path
) -> None:
    cache = StageCache(tmp_path / "cache")

    def key(hint: str, run_id: str) -> str:
        stages: list[Stage[Any] | PlannedStage] = [
            Scorer(ScorerParams()),
            Hinter(HinterParams(hint=hint)),
            Chooser(ChooserParams(read_hints=True)),
        ]
        run = _run(make_context, stages, run_id=run_id, cache=cache)
        return str({s["name"]: s for s in run.manifest["stages"]}["chooser"]["cache_key"])

    assert key("a", "r1") == key("a", "r2")
    assert key("a", "r3") != key("b", "r4")


def test_result_breaking_its_contract_fails_the_run_naming_stage_and_problem(
    make_context: Callable[..., RunContext],
) -> None:
    ctx = make_context()
    with pytest.raises(ContractError) as info:
        Pipeline([BadScorer(ScorerParams())]).run(ctx)
    assert str(info.value) == (
        "stage 'bad_scorer' returned a ScoresResult that breaks its contract: "
        "key 'score' is missing or not an integer"
    )
    assert not isinstance(info.value, UserError)
    manifest = json.loads((ctx.run_dir / MANIFEST).read_text())
    assert manifest["status"] == "failed"
    assert manifest["stages"][0]["status"] == "failed"


def test_cached_result_is_checked_against_its_contract_too(
    kinds: None, make_context: Callable[..., RunContext], tmp_path: Path
) -> None:
    cache = StageCache(tmp_path / "cache")
    _run(make_context, [Scorer(ScorerParams())], run_id="r1", cache=cache)
    ScoresResult.broken = True
    try:
        with pytest.raises(ContractError, match="stage 'scorer' returned a ScoresResult"):
            _run(make_context, [Scorer(ScorerParams())], run_id="r2", cache=cache)
    finally:
        ScoresResult.broken = False


def test_explain_follows_kinds_to_their_provider(
    kinds: None, make_context: Callable[..., RunContext], tmp_path: Path
) -> None:
    cache = StageCache(tmp_path / "cache")
    _run(make_context, [Scorer(ScorerParams()), Chooser(ChooserParams())], cache=cache)
    same = Pipeline([Scorer(ScorerParams()), Chooser(ChooserParams())], cache=cache)
    assert [e.verdict for e in explain(same, make_context(run_id="e1"))] == ["hit", "hit"]
    changed = Pipeline([Scorer(ScorerParams(score=5)), Chooser(ChooserParams())], cache=cache)
    verdicts = explain(changed, make_context(run_id="e2"))
    assert [e.verdict for e in verdicts] == ["miss", "unknown"]
    assert "depends on 'scorer'" in verdicts[1].reason

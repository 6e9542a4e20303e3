"""The stage cache: keys, hits, invalidation, forcing, atomic writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panelml.pipeline.cache import StageCache, cache_key
from panelml.pipeline.context import RunContext
from panelml.pipeline.events import Event, EventBus
from panelml.pipeline.results import JsonResult
from panelml.pipeline.runner import Pipeline, RunResult
from panelml.pipeline.stage import Stage, StageParams
from panelml.pipeline.storage import StorageError


@dataclass
class OtherData:
    fingerprint: str


def _run(
    toy_stages: Any,
    make_context: Callable[..., RunContext],
    cache: StageCache,
    run_id: str,
    *,
    data: Any = None,
    force: Any = (),
    **params: dict[str, Any],
) -> RunResult:
    stages = [cls(cls.Params(**params.get(cls.name, {}))) for cls in toy_stages]
    return Pipeline(stages, cache=cache).run(make_context(run_id=run_id, data=data), force=force)


def _statuses(result: RunResult) -> dict[str, str]:
    return {s["name"]: s["status"] for s in result.manifest["stages"]}


@pytest.fixture
def cache(tmp_path: Path) -> StageCache:
    return StageCache(tmp_path / "cache")


def test_cache_key_depends_on_each_ingredient_and_only_on_them() -> None:
    base: dict[str, Any] = {
        "stage": "beta",
        "stage_version": "1",
        "params": {"mult": 2},
        "input_fingerprints": {"alpha": "f1"},
        "data_fingerprint": "d1",
        "panelml_version": "0.1.0",
        "code": {"panelml_source": "s1", "stage_source": "m1", "libraries": {"numpy": "2.0"}},
    }
    key = cache_key(**base)
    assert key == cache_key(**dict(base, params={"mult": 2}))
    changes = [
        {"stage": "gamma"},
        {"stage_version": "2"},
        {"params": {"mult": 3}},
        {"input_fingerprints": {"alpha": "f2"}},
        {"data_fingerprint": "d2"},
        {"panelml_version": "0.2.0"},
        {"code": dict(base["code"], panelml_source="s2")},
        {"code": dict(base["code"], stage_source="m2")},
        {"code": dict(base["code"], libraries={"numpy": "2.1"})},
    ]
    keys = {cache_key(**dict(base, **change)) for change in changes}
    assert key not in keys and len(keys) == len(changes)


def test_rerun_with_nothing_changed_takes_every_stage_from_the_cache(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    first = _run(toy_stages, make_context, cache, "r1")
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    stages = [cls(cls.Params()) for cls in toy_stages]
    second = Pipeline(stages, cache=cache).run(make_context(run_id="r2", events=bus))

    assert _statuses(second) == {"alpha": "cached", "beta": "cached", "gamma": "cached"}
    assert calls == Counter({"alpha": 1, "beta": 1, "gamma": 1})
    assert [type(e).__name__ for e in seen] == [
        "PipelineStarted",
        "StageCached",
        "StageCached",
        "StageCached",
        "PipelineFinished",
    ]
    assert second.results["gamma"] == first.results["gamma"]
    for one, two in zip(first.manifest["stages"], second.manifest["stages"], strict=True):
        assert one["cache_key"] == two["cache_key"] and one["fingerprint"] == two["fingerprint"]
    assert (second.run_dir / "gamma" / "result.json").is_file()


def test_param_change_recomputes_that_stage_and_later_ones_not_earlier(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", beta={"mult": 5})
    assert _statuses(result) == {"alpha": "cached", "beta": "ran", "gamma": "ran"}
    assert calls == Counter({"alpha": 1, "beta": 2, "gamma": 2})
    assert result.results["gamma"] == JsonResult({"value": 5})


def test_upstream_change_recomputes_downstream_through_fingerprints(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", alpha={"x": 3})
    assert _statuses(result) == {"alpha": "ran", "beta": "ran", "gamma": "ran"}
    assert result.results["gamma"] == JsonResult({"value": 6})


def test_last_stage_param_change_leaves_earlier_stages_cached(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", gamma={"add": 1})
    assert _statuses(result) == {"alpha": "cached", "beta": "cached", "gamma": "ran"}
    assert calls == Counter({"alpha": 1, "beta": 1, "gamma": 2})


def test_data_change_recomputes_everything(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", data=OtherData(fingerprint="data-v2"))
    assert _statuses(result) == {"alpha": "ran", "beta": "ran", "gamma": "ran"}
    assert calls == Counter({"alpha": 2, "beta": 2, "gamma": 2})


def test_force_recomputes_the_stage_and_later_stages_hit_when_unchanged(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", force=["beta"])
    # beta's recomputed result has the same fingerprint, so gamma's key is unchanged
    assert _statuses(result) == {"alpha": "cached", "beta": "ran", "gamma": "cached"}
    assert calls == Counter({"alpha": 1, "beta": 2, "gamma": 1})


def test_force_all_recomputes_everything(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    _run(toy_stages, make_context, cache, "r1")
    result = _run(toy_stages, make_context, cache, "r2", force="all")
    assert set(_statuses(result).values()) == {"ran"}
    assert calls == Counter({"alpha": 2, "beta": 2, "gamma": 2})


class HalfSavedResult(JsonResult):
    """Writes one file, then crashes: a killed process in the middle of a save."""

    def save(self, directory: Path) -> None:
        (directory / "part-1.json").write_text("{}")
        raise OSError("disk full")


class HalfSavingStage(Stage[StageParams]):
    name = "alpha"
    result_type = HalfSavedResult

    def run(self, ctx: RunContext) -> HalfSavedResult:
        return HalfSavedResult({"value": 1})


def test_crash_in_the_middle_of_a_cache_write_leaves_no_entry(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache, calls: Counter[str]
) -> None:
    pipeline = Pipeline([HalfSavingStage(StageParams())], cache=cache)
    with pytest.raises(StorageError, match=r"disk full.*runtime\.cache_dir"):
        pipeline.run(make_context(run_id="r1"))
    stage_dir = cache.root / "alpha"
    assert list(stage_dir.iterdir()) == []  # no entry, no temporary leftovers

    # a later good run of the same stage and key computes and stores normally
    alpha = toy_stages[0]
    result = Pipeline([alpha(alpha.Params())], cache=cache).run(make_context(run_id="r2"))
    assert _statuses(result) == {"alpha": "ran"}
    assert len(list(stage_dir.iterdir())) == 1


def test_store_and_load_round_trip(cache: StageCache) -> None:
    result = JsonResult({"a": [1, 2]})
    path = cache.store("s", "k" * 64, result, result.fingerprint())
    assert path == cache.entry_path("s", "k" * 64)
    hit = cache.load("s", "k" * 64, JsonResult)
    assert hit is not None and hit.result == result and hit.fingerprint == result.fingerprint()
    assert cache.load("s", "0" * 64, JsonResult) is None


def _aged(cache: StageCache, stage: str, key: str, days: float) -> None:
    import os
    import time

    when = time.time() - days * 86400
    os.utime(cache.entry_path(stage, key) / "entry.json", (when, when))


def test_prune_by_age_and_by_recent_runs(cache: StageCache) -> None:
    result = JsonResult({"a": 1})
    keys = {name: name[0] * 64 for name in ("old", "new", "used", "dropped")}
    for key in keys.values():
        cache.store("s", key, result, result.fingerprint())
    _aged(cache, "s", keys["old"], 40)
    cache.record_run("r1", [("s", keys["dropped"])])
    cache.record_run("r2", [("s", keys["used"]), ("s", keys["new"])])

    assert cache.prune(older_than_days=30, dry_run=True) == [cache.entry_path("s", keys["old"])]
    assert cache.contains("s", keys["old"])  # a dry run removes nothing
    removed = cache.prune(keep_runs=1)
    assert sorted(p.name for p in removed) == sorted([keys["old"], keys["dropped"]])
    assert sorted(key for _, key, _ in cache.entries()) == sorted([keys["new"], keys["used"]])
    assert not [p for p in (cache.root / "s").iterdir() if p.name.startswith(".")]


def test_a_hit_records_its_use(cache: StageCache) -> None:
    result = JsonResult({"a": 1})
    cache.store("s", "k" * 64, result, result.fingerprint())
    _aged(cache, "s", "k" * 64, 40)
    assert cache.load("s", "k" * 64, JsonResult) is not None
    assert cache.prune(older_than_days=30) == []


def test_explain_says_which_ingredient_changed(
    toy_stages: Any, make_context: Callable[..., RunContext], cache: StageCache
) -> None:
    from panelml.pipeline.explain import explain

    _run(toy_stages, make_context, cache, "r1")
    stages = [cls(cls.Params(**({"mult": 5} if cls.name == "beta" else {}))) for cls in toy_stages]
    items = explain(Pipeline(stages, cache=cache), make_context(run_id="r2"))
    assert [(i.stage, i.verdict) for i in items] == [
        ("alpha", "hit"),
        ("beta", "miss"),
        ("gamma", "unknown"),
    ]
    assert items[1].changed == ["params.mult"]
    assert items[0].key_inputs["params"] == {"x": 1}
    assert not (make_context(run_id="r2").run_dir).exists()  # explain writes nothing

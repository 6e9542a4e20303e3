"""ExperimentConfig: loading, resolving stage params, overrides, and clear errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from panelml.config import (
    DEFAULT_STAGES,
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    load_config,
)


def toy_config(**extra: Any) -> dict[str, Any]:
    """A minimal valid config using the toy stages of tests/conftest.py."""
    config: dict[str, Any] = {
        "experiment": {"name": "toy"},
        "data": {"path": "panel.parquet"},
        "pipeline": {"stages": ["alpha", "beta", "gamma"]},
        "runtime": {"quiet": True, "stability_snapshots": False},
    }
    config.update(extra)
    return config


def test_valid_config_is_resolved_with_defaults_and_sections(
    toy_stages: Any, write_config: Callable[..., Path]
) -> None:
    path = write_config(
        toy_config(
            pipeline={"stages": ["alpha", {"name": "beta", "params": {"mult": 4}}, "gamma"]},
            gamma={"add": 2, "enabled": False},
            beta={"mult": 5},
        )
    )
    config = load_config(path)
    entries = {e.name: (e.enabled, e.params) for e in config.pipeline.stages}
    assert entries == {
        "alpha": (True, {"x": 1}),
        "beta": (True, {"mult": 5}),  # the top-level section wins over the entry
        "gamma": (False, {"add": 2, "skip_me": False}),
    }
    assert config.stage_sections() == {}
    assert config.base_dir == path.parent.resolve()
    assert config.resolve_path(config.data.path) == path.parent.resolve() / "panel.parquet"
    assert config.resolve_path("/abs/x") == Path("/abs/x")
    assert config.runtime.seed == 42 and config.validation.n_splits == 5


def test_resolved_config_round_trips(toy_stages: Any, write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(toy_config(beta={"mult": 3})))
    again = load_config(write_config(config.resolved_dict(), name="again.yaml"))
    assert again.resolved_dict() == config.resolved_dict()


def test_default_pipeline_is_the_six_standard_stages() -> None:
    config = ExperimentConfig.model_validate(
        {"experiment": {"name": "x"}, "data": {"path": "p.parquet"}}
    )
    assert tuple(e.name for e in config.pipeline.stages) == DEFAULT_STAGES


def test_overrides_set_values_parsed_as_yaml(
    toy_stages: Any, write_config: Callable[..., Path]
) -> None:
    path = write_config(toy_config())
    config = load_config(
        path,
        ["beta.mult=7", "runtime.seed=3", "gamma.enabled=false", "pipeline.stages.0.params.x=2"],
    )
    params = {e.name: e.params for e in config.pipeline.stages}
    assert params["beta"] == {"mult": 7} and params["alpha"] == {"x": 2}
    assert config.runtime.seed == 3
    assert [e.enabled for e in config.pipeline.stages] == [True, True, False]


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = {"a": {"b": 1}}
    assert apply_overrides(raw, ["a.b=[1, 2]", "c.d=x"]) == {"a": {"b": [1, 2]}, "c": {"d": "x"}}
    assert raw == {"a": {"b": 1}}


BAD_CONFIGS: list[tuple[str, Any, list[str], list[str]]] = [
    # (id, config (dict or raw text), overrides, fragments the message must contain)
    (
        "unknown top-level key",
        toy_config(traning={"x": 1}),
        [],
        ["traning: unknown top-level key", "expected one of experiment, data"],
    ),
    (
        "misspelt stage section",
        toy_config(betta={"mult": 1}),
        [],
        ["betta: unknown top-level key (did you mean 'beta'?)"],
    ),
    (
        "wrong type",
        toy_config(runtime={"seed": "abc"}),
        [],
        ["runtime.seed: Input should be a valid integer", "found 'abc'"],
    ),
    (
        "unknown key in a section",
        toy_config(runtime={"sed": 1}),
        [],
        ["runtime.sed: unknown key (did you mean 'seed'?)"],
    ),
    (
        "missing section",
        {"experiment": {"name": "x"}, "pipeline": {"stages": ["alpha"]}},
        [],
        ["data: required key is missing"],
    ),
    (
        "unknown stage",
        toy_config(pipeline={"stages": ["alpha", "bata"]}),
        [],
        ["pipeline.stages[1]: unknown stage 'bata' (did you mean 'beta'?)", "available:"],
    ),
    (
        "impossible stage order",
        toy_config(pipeline={"stages": ["beta", "alpha"]}),
        [],
        ["pipeline.stages: stage 'beta' requires 'alpha', which runs after it"],
    ),
    (
        "missing input stage",
        toy_config(pipeline={"stages": ["alpha", "gamma"]}),
        [],
        ["requires 'beta', which is not in the pipeline; add 'beta' before 'gamma'"],
    ),
    (
        "bad stage param type",
        toy_config(beta={"mult": "lots"}),
        [],
        ["beta.mult: Input should be a valid integer", "found 'lots'"],
    ),
    (
        "unknown stage param",
        toy_config(beta={"mul": 3}),
        [],
        ["beta.mul: unknown key (did you mean 'mult'?)"],
    ),
    ("yaml syntax error", "experiment: {name: x\ndata: [", [], ["YAML syntax error", "line"]),
    ("not a mapping", "- a\n- b\n", [], ["expected a mapping at the top level", "found list"]),
    (
        "bad --set syntax",
        toy_config(),
        ["beta.mult"],
        ["--set 'beta.mult': expected KEY.PATH=VALUE"],
    ),
    ("bad --set value", toy_config(), ["beta.mult=nope"], ["beta.mult: Input should be a valid"]),
    (
        "unknown hook",
        toy_config(hooks=["nosuch_hook"]),
        [],
        ["hooks[0]: unknown hook plugin 'nosuch_hook'"],
    ),
    (
        "enabled not a bool",
        toy_config(gamma={"enabled": "maybe"}),
        [],
        ["gamma.enabled: expected true or false, found 'maybe'"],
    ),
    (
        "stage section not a mapping",
        toy_config(beta=3),
        [],
        ["beta: expected a mapping of params of stage 'beta', found int 3"],
    ),
]


@pytest.mark.parametrize(
    ("content", "overrides", "fragments"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_config_raises_config_error_naming_file_key_expected_and_found(
    toy_stages: Any,
    write_config: Callable[..., Path],
    content: Any,
    overrides: list[str],
    fragments: list[str],
) -> None:
    path = write_config(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    if not message.startswith("--set"):
        assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_hook_plugin_with_bad_method_is_rejected_when_the_config_is_loaded(
    toy_stages: Any, write_config: Callable[..., Path]
) -> None:
    from panelml.pipeline.registry import register_hook

    @register_hook
    class Sloppy:
        name = "sloppy"

        def after_stag(self, event: Any) -> None: ...

    with pytest.raises(ConfigError) as info:
        load_config(write_config(toy_config(hooks=["sloppy"])))
    assert "hooks[0]" in str(info.value) and "did you mean 'after_stage'" in str(info.value)


def test_hook_params_go_to_the_plugin_constructor(
    toy_stages: Any, write_config: Callable[..., Path]
) -> None:
    from panelml.config import build_hooks
    from panelml.pipeline.registry import register_hook

    @register_hook
    class Counting:
        name = "counting"

        def __init__(self, every: int = 1, priority: int = 0) -> None:
            self.every = every
            self.priority = priority

        def after_stage(self, event: Any) -> None: ...

    config = load_config(
        write_config(
            toy_config(hooks=[{"name": "counting", "params": {"every": 5, "priority": 3}}])
        )
    )
    manager = build_hooks(config)
    ((name, plugin),) = manager.plugins
    assert name == "counting" and plugin.every == 5  # type: ignore[attr-defined]
    assert manager.rows() == [("after_stage", 1, "counting", 3)]
    with pytest.raises(ConfigError, match=r"hooks\[0\]\.params: cannot create hook plugin"):
        load_config(write_config(toy_config(hooks=[{"name": "counting", "params": {"x": 1}}])))


def test_stability_snapshot_hook_is_on_by_default(
    toy_stages: Any, write_config: Callable[..., Path]
) -> None:
    from panelml.config import BUILTIN_SNAPSHOT_HOOK, build_hooks

    config = toy_config()
    config["runtime"] = {"quiet": True}
    manager = build_hooks(load_config(write_config(config)))
    assert [name for name, _ in manager.plugins] == [BUILTIN_SNAPSHOT_HOOK]
    config["runtime"] = {"stability_snapshots": False}
    assert build_hooks(load_config(write_config(config))).plugins == []


UNIVARIATE_KINDS = ("rank_ic", "toy_kind")
"""Read by the preflight check below: the kinds this module's stage declares."""


def test_preflight_takes_univariate_kinds_from_the_stage_module() -> None:
    """A kind a stage module adds is accepted at validation without a second list."""
    from panelml.pipeline.results import JsonResult
    from panelml.pipeline.stage import Stage, StageParams
    from panelml.preflight import _univariate_kinds

    class Selector(Stage[StageParams]):
        name = "selector"
        result_type = JsonResult

        def run(self, ctx: Any) -> JsonResult:
            return JsonResult()

    assert _univariate_kinds(Selector) == ("rank_ic", "toy_kind")
    assert _univariate_kinds(JsonResult) == ("rank_ic", "partial_rank_ic")

"""Conformance test kit for pipeline stages (for plugin authors and the built-ins).

One call, in any test::

    from panelml.testing import check_stage, stage_context

    def test_my_stage(tmp_path):
        ctx = stage_context(my_panel, tmp_path)
        check_stage(MyStage, {"label": "rows"}, ctx, tmp_path)

What it proves:

* the stage is well formed: a ``name``, a ``Params`` model, a ``result_type``
  that is a :class:`~panelml.pipeline.stage.StageResult`;
* its params reject an unknown key (a misspelt YAML key must not be ignored),
  and the given params validate;
* every required input (``inputs()``) is provided by a result already in the
  context (``ctx.input(kind)``): the order the pipeline would check;
* ``run`` returns an instance of ``result_type`` that matches its contract
  (``contract_problems()`` is empty) and names known kinds or its own;
* the fingerprint is stable (twice the same; a second ``run`` on the same
  context gives the same fingerprint, unless ``rerun=False``);
* ``save`` / ``load`` round-trip: the loaded result has the same fingerprint,
  matches its contract, and saving it again writes the same files.

Failures are ``AssertionError`` naming the stage and the property. The result
is returned, so a caller can feed it to the next stage's context
(``ctx.results[name] = result``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from panelml.pipeline.context import RunContext
from panelml.pipeline.events import EventBus
from panelml.pipeline.executor import SerialExecutor
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.stage import Stage, StageParams, StageResult
from panelml.validation.spec import ValidationConfig

__all__ = ["UNKNOWN_KEY", "check_stage", "stage_context"]

UNKNOWN_KEY = "no_such_param_for_conformance"
"""A key no stage's params should accept."""


def stage_context(
    data: Any,
    tmp_path: Path,
    *,
    config: Any | None = None,
    results: Mapping[str, StageResult] | None = None,
    seed: int = 7,
    experiment: str = "conformance",
) -> RunContext:
    """A quiet, serial :class:`RunContext` over ``data`` for one test.

    ``config`` defaults to an object with a default ``validation`` section (what
    the built-in fitting stages read); pass the real experiment config when the
    stage reads more.
    """
    run_dir = Path(tmp_path) / "runs" / experiment / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    return RunContext(
        config=config if config is not None else SimpleNamespace(validation=ValidationConfig()),
        data=data,
        data_fingerprint="conformance",
        run_dir=run_dir,
        run_id="run",
        experiment=experiment,
        events=EventBus(),
        executor=SerialExecutor(),
        reporter=Reporter(quiet=True),
        seed=seed,
        deterministic=True,
        results=dict(results or {}),
    )


def _files(directory: Path) -> dict[str, int]:
    return {
        p.relative_to(directory).as_posix(): p.stat().st_size
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _check_shape(stage_cls: type[Stage[Any]]) -> str:
    name = getattr(stage_cls, "name", None)
    assert isinstance(name, str) and name, f"{stage_cls.__name__}: no stage name"
    assert isinstance(stage_cls.Params, type) and issubclass(stage_cls.Params, StageParams), (
        f"stage {name!r}: Params must subclass StageParams"
    )
    result_type = getattr(stage_cls, "result_type", None)
    assert isinstance(result_type, type) and issubclass(result_type, StageResult), (
        f"stage {name!r}: result_type must be a StageResult subclass"
    )
    return name


def _check_params(stage_cls: type[Stage[Any]], name: str, params: Mapping[str, Any]) -> Any:
    try:
        stage_cls.Params.model_validate({**params, UNKNOWN_KEY: 1})
    except ValidationError:
        pass
    else:
        raise AssertionError(f"stage {name!r}: params accept the unknown key {UNKNOWN_KEY!r}")
    try:
        return stage_cls.Params.model_validate(dict(params))
    except ValidationError as exc:
        raise AssertionError(f"stage {name!r}: the given params do not validate: {exc}") from None


def _check_result(name: str, result: StageResult, result_type: type[StageResult]) -> None:
    assert isinstance(result, result_type), (
        f"stage {name!r}: run returned {type(result).__name__}, not {result_type.__name__}"
    )
    provides = getattr(type(result), "provides", ())
    assert isinstance(provides, tuple) and all(isinstance(k, str) for k in provides), (
        f"stage {name!r}: {type(result).__name__}.provides must be a tuple of kind names"
    )
    problems = result.contract_problems()
    assert not problems, f"stage {name!r}: result breaks its contract: {problems[0]}"


def check_stage(
    stage_cls: type[Stage[Any]],
    params: Mapping[str, Any],
    ctx: RunContext,
    tmp_path: Path,
    *,
    rerun: bool = True,
) -> StageResult:
    """Check ``stage_cls`` with ``params`` on ``ctx`` (see the module docstring).

    Returns the result of the run.
    """
    name = _check_shape(stage_cls)
    stage = stage_cls(_check_params(stage_cls, name, params))
    for needed in stage.inputs():
        if not needed.optional:
            assert ctx.input(needed.kind) is not None, (
                f"stage {name!r}: required input {needed.kind!r} is not in the context; "
                "run the stage that provides it first"
            )
    result = stage.run(ctx)
    result_type = stage_cls.result_type
    _check_result(name, result, result_type)

    digest = result.fingerprint()
    assert isinstance(digest, str) and digest, f"stage {name!r}: empty fingerprint"
    assert result.fingerprint() == digest, f"stage {name!r}: fingerprint changes between calls"
    if rerun:
        again = stage_cls(_check_params(stage_cls, name, params)).run(ctx)
        assert again.fingerprint() == digest, (
            f"stage {name!r}: a second run on the same context gives another fingerprint"
        )

    first = Path(tmp_path) / f"{name}-saved"
    first.mkdir(parents=True, exist_ok=False)
    result.save(first)
    loaded = result_type.load(first)
    _check_result(name, loaded, result_type)
    assert loaded.fingerprint() == digest, (
        f"stage {name!r}: the loaded result has another fingerprint than the saved one"
    )
    second = Path(tmp_path) / f"{name}-resaved"
    second.mkdir(parents=True, exist_ok=False)
    loaded.save(second)
    assert sorted(_files(second)) == sorted(_files(first)), (
        f"stage {name!r}: saving the loaded result writes other files "
        f"({sorted(set(_files(first)) ^ set(_files(second)))})"
    )
    return result

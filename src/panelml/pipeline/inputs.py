"""A stage's inputs at run time: when they make it skip, what enters its cache key,
and whether a result keeps the contracts it provides.

The order check before any work lives in :mod:`panelml.pipeline.plan`; this
module answers the questions the runner asks per stage while the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from panelml.pipeline.cache import key_document
from panelml.pipeline.codeid import code_identity
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import ContractError
from panelml.pipeline.manifest import panelml_version
from panelml.pipeline.plan import PlannedStage, provides
from panelml.pipeline.stage import Stage, StageResult

__all__ = ["check_contract", "skip_reason", "stage_key_document"]


def skip_reason(
    ctx: RunContext,
    stages: Sequence[PlannedStage],
    planned: PlannedStage,
    statuses: Mapping[str, str],
) -> str | None:
    """Why ``planned`` does not run: disabled, a required input's provider did not
    produce a result (named with that provider's status), or ``stage.skip(ctx)``."""
    if not planned.enabled:
        return "disabled in the config"
    position = [p.name for p in stages].index(planned.name)
    for needed in planned.stage.inputs():
        if needed.optional or ctx.input(needed.kind) is not None:
            continue
        providers = [p.name for p in stages[:position] if provides(p.stage, needed.kind)]
        status = statuses.get(providers[-1], "not run") if providers else "not run"
        return f"requires {needed.kind!r}, which was {status}"
    return planned.stage.skip(ctx)


def stage_key_document(
    ctx: RunContext, stage: Stage[Any], fingerprints: Mapping[str, str]
) -> dict[str, Any]:
    """What ``stage``'s cache key is the hash of (see :func:`key_document`).

    Each input, required or optional, contributes the fingerprint of the stage
    that provides it in this run, under that stage's name.
    """
    inputs: dict[str, str] = {}
    for needed in stage.inputs():
        provider = ctx.provider(needed.kind)
        if provider is not None and provider in fingerprints:
            inputs[provider] = fingerprints[provider]
    return key_document(
        stage=stage.name,
        stage_version=str(stage.version),
        params=stage.params.model_dump(mode="json"),
        input_fingerprints=inputs,
        data_fingerprint=ctx.data_fingerprint,
        panelml_version=panelml_version(),
        code=code_identity(type(stage)),
        settings=_settings(ctx, stage),
    )


def check_contract(name: str, result: StageResult) -> None:
    """Raise :class:`ContractError` when ``result`` breaks a contract it provides."""
    problems = result.contract_problems()
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ContractError(
            f"stage {name!r} returned a {type(result).__name__} that breaks its contract: "
            f"{problems[0]}{more}"
        )


def _settings(ctx: RunContext, stage: Stage[Any]) -> dict[str, Any]:
    """Run-wide settings in ``stage``'s cache key (see :func:`key_document`)."""
    settings: dict[str, Any] = {"seed": ctx.seed, "deterministic": ctx.deterministic}
    for section in stage.config_sections:
        value = getattr(ctx.config, section, None)
        dump = getattr(value, "model_dump", None)
        settings[section] = dump(mode="json") if callable(dump) else value
    return settings

"""Pipeline: checks the stage order, runs stages, caches, times and records a run.

The public entry point is :meth:`Pipeline.run`. For each stage, in order:

1. disabled in the config, an input skipped, or ``stage.skip(ctx)`` gives a
   reason -> :class:`~panelml.pipeline.events.StageSkipped`;
2. an intact cache entry for its :func:`~panelml.pipeline.cache.cache_key`
   exists (and the stage is not forced) -> the result is loaded ->
   :class:`~panelml.pipeline.events.StageCached`; a damaged entry is a miss
   with one warning;
3. otherwise :class:`~panelml.pipeline.events.StageStarted`, ``stage.run(ctx)``,
   the result is stored in the cache and the run folder ->
   :class:`~panelml.pipeline.events.StageCompleted`, or
   :class:`~panelml.pipeline.events.StageFailed` and the stage's exception
   propagates to the caller unchanged.

Every result is saved into ``<run_dir>/<stage>/`` and then ``result.export(run_dir)``
is called, for computed and cached results alike. The run folder (created
atomically: it must not exist) also receives ``manifest.json``, ``config.yaml``
and ``events.jsonl``. The manifest goes from ``running`` to ``finished``,
``failed`` or ``interrupted`` (SIGINT/SIGTERM, :mod:`panelml.pipeline.signals`)
and lists the sha256 of every file of each stage folder. Write errors on the
output or cache folder are :class:`~panelml.pipeline.storage.StorageError`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from panelml.pipeline.cache import StageCache, key_document
from panelml.pipeline.codeid import code_identity
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import ContractError, HookError, PipelineOrderError
from panelml.pipeline.events import (
    EventLog,
    PipelineFinished,
    PipelineStarted,
    StageCached,
    StageCompleted,
    StageFailed,
    StageSkipped,
    StageStarted,
)
from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.hooks import HookManager
from panelml.pipeline.manifest import (
    OUTPUT_SETTING,
    create_run_dir,
    iso,
    library_versions,
    mark_stale_runs,
    panelml_version,
    write_manifest,
)
from panelml.pipeline.manifest import new_run_id as new_run_id
from panelml.pipeline.plan import PlannedStage, check_order, provides
from panelml.pipeline.runstate import MANIFEST as MANIFEST
from panelml.pipeline.runstate import process_identity
from panelml.pipeline.signals import RunInterrupted, interrupt_on_signals
from panelml.pipeline.stage import Stage, StageResult
from panelml.pipeline.stage_io import (
    folder_checksums,
    load_cached,
    record_cache_use,
    save_result,
)
from panelml.pipeline.storage import storage_errors, write_text_atomic

__all__ = [
    "CONFIG_FILE",
    "EVENTS_FILE",
    "MANIFEST",
    "Pipeline",
    "PlannedStage",
    "RunResult",
    "StageRecord",
    "check_order",
    "library_versions",
    "new_run_id",
    "panelml_version",
]

CONFIG_FILE = "config.yaml"
EVENTS_FILE = "events.jsonl"


@dataclass
class StageRecord:
    """What happened to one stage in a run (one row of the manifest)."""

    name: str
    status: Literal["pending", "ran", "cached", "skipped", "failed", "interrupted"] = "pending"
    seconds: float = 0.0
    cache_key: str | None = None
    fingerprint: str | None = None
    reason: str | None = None
    error: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of every file in the stage's run folder (``panelml runs verify``)."""
    summary: dict[str, Any] | None = None
    """The result's :meth:`~panelml.pipeline.stage.StageResult.manifest_summary`."""


@dataclass
class RunResult:
    """The outcome of a successful run: where it is, its manifest and its results."""

    run_dir: Path
    manifest: dict[str, Any]
    results: dict[str, StageResult] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.manifest["run_id"])


class Pipeline:
    """An ordered list of stages, with optional hooks and cache.

    Args:
        stages: stage instances (or :class:`PlannedStage` to mark one disabled).
        hooks: hook plugins to call; attached to the run's event bus for the run.
        cache: the stage cache; ``None`` disables caching entirely.
    """

    def __init__(
        self,
        stages: Sequence[Stage[Any] | PlannedStage],
        *,
        hooks: HookManager | None = None,
        cache: StageCache | None = None,
    ) -> None:
        self.stages = [s if isinstance(s, PlannedStage) else PlannedStage(s) for s in stages]
        self.hooks = hooks
        self.cache = cache
        check_order(self.stages)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.stages]

    def run(
        self,
        ctx: RunContext,
        *,
        force: Collection[str] | Literal["all"] = (),
        config_snapshot: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run every stage in order into ``ctx.run_dir``.

        Args:
            ctx: the run context; its ``events`` bus receives every event.
            force: stage names to recompute even if cached, or ``"all"`` (the
                ``--no-cache`` behaviour: nothing is read from the cache, fresh
                results still refresh it).
            config_snapshot: the fully resolved config, written to ``config.yaml``
                and hashed into the manifest's ``config_hash``.

        Returns the :class:`RunResult`. A failing stage's exception propagates
        unchanged, after ``manifest.json`` is written with status ``failed``.
        """
        check_order(self.stages)
        unknown = [] if force == "all" else [f for f in force if f not in self.names]
        if unknown:
            raise PipelineOrderError(
                f"cannot force {', '.join(map(repr, unknown))}: not a stage of this pipeline "
                f"({', '.join(self.names)})"
            )
        run_dir = ctx.run_dir
        create_run_dir(run_dir)
        started = time.time()
        for stale in mark_stale_runs(run_dir.parent, now=started, by_run=ctx.run_id):
            ctx.reporter.warn(
                f"run {stale} of {ctx.experiment!r} was still marked running but its "
                "process is gone; marked interrupted"
            )
        if self.cache is not None:
            self.cache.clean()
        with storage_errors(run_dir, OUTPUT_SETTING):
            log = EventLog(run_dir / EVENTS_FILE)
        unsubscribe_log = ctx.events.subscribe(log)
        if self.hooks is not None:
            self.hooks.attach(ctx.events, ctx.reporter)

        records = {p.name: StageRecord(p.name) for p in self.stages}
        fingerprints: dict[str, str] = {}
        manifest = self._manifest(ctx, records, started, config_snapshot)
        error: BaseException | None = None
        try:
            with interrupt_on_signals():
                if config_snapshot is not None:
                    with storage_errors(run_dir, OUTPUT_SETTING):
                        write_text_atomic(
                            run_dir / CONFIG_FILE,
                            yaml.safe_dump(
                                dict(config_snapshot), sort_keys=False, allow_unicode=True
                            ),
                        )
                write_manifest(run_dir, manifest)
                ctx.events.emit(
                    PipelineStarted(
                        run_id=ctx.run_id,
                        experiment=ctx.experiment,
                        run_dir=str(run_dir),
                        stages=tuple(self.names),
                        context=ctx,
                    )
                )
                for position, planned in enumerate(self.stages, start=1):
                    self._run_stage(ctx, planned, position, records, fingerprints, force)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                used = [
                    (r.name, r.cache_key)
                    for r in records.values()
                    if r.cache_key is not None and r.status in ("ran", "cached")
                ]
                record_cache_use(self.cache, ctx, used)
                self._finish(ctx, manifest, records, started, error)
            finally:
                if self.hooks is not None:
                    self.hooks.detach()
                unsubscribe_log()
                log.close()
        return RunResult(run_dir=run_dir, manifest=manifest, results=dict(ctx.results))

    # -- one stage ---------------------------------------------------------------
    def _run_stage(
        self,
        ctx: RunContext,
        planned: PlannedStage,
        position: int,
        records: dict[str, StageRecord],
        fingerprints: dict[str, str],
        force: Collection[str] | Literal["all"],
    ) -> None:
        stage = planned.stage
        name = stage.name
        record = records[name]
        prefix = f"[{position}/{len(self.stages)}] {name}"
        t0 = time.perf_counter()
        try:
            reason = self._skip_reason(ctx, planned, records)
            if reason is not None:
                record.status, record.reason = "skipped", reason
                ctx.reporter.info(f"{prefix}: skipped ({reason})")
                ctx.events.emit(
                    StageSkipped(run_id=ctx.run_id, stage=name, reason=reason, context=ctx)
                )
                return
            document = self._key_document(ctx, stage, fingerprints)
            key = sha256_json(document)
            record.cache_key = key
            forced = force == "all" or name in force
            cacheable = self.cache is not None and stage.cacheable
            if cacheable and self.cache is not None and not forced:
                hit = load_cached(self.cache, ctx, stage, key)
                if hit is not None:
                    check_contract(name, hit.result)
                    with storage_errors(ctx.run_dir, OUTPUT_SETTING):
                        hit.result.export(ctx.run_dir)
                    record.files = folder_checksums(ctx.run_dir / name)
                    ctx.results[name] = hit.result
                    fingerprints[name] = hit.fingerprint
                    seconds = time.perf_counter() - t0
                    record.status, record.seconds = "cached", seconds
                    record.fingerprint = hit.fingerprint
                    record.summary = hit.result.manifest_summary()
                    ctx.reporter.info(f"{prefix}: from cache ({seconds:.2f}s)")
                    ctx.events.emit(
                        StageCached(
                            run_id=ctx.run_id,
                            stage=name,
                            seconds=seconds,
                            cache_key=key,
                            fingerprint=hit.fingerprint,
                            result=hit.result,
                            context=ctx,
                        )
                    )
                    return
            ctx.events.emit(StageStarted(run_id=ctx.run_id, stage=name, cache_key=key, context=ctx))
            ctx.reporter.info(f"{prefix}: running")
            result = stage.run(ctx)
            if not isinstance(result, StageResult):
                raise TypeError(
                    f"stage {name!r} returned {type(result).__name__}, not a StageResult"
                )
            check_contract(name, result)
            fingerprint = result.fingerprint()
            save_result(
                self.cache if cacheable else None, ctx, name, key, document, result, fingerprint
            )
            with storage_errors(ctx.run_dir, OUTPUT_SETTING):
                result.export(ctx.run_dir)
            record.files = folder_checksums(ctx.run_dir / name)
        except HookError:
            record.status, record.seconds = "failed", time.perf_counter() - t0
            record.error = "a hook failed (strict_hooks)"
            raise
        except BaseException as exc:
            seconds = time.perf_counter() - t0
            record.status = "interrupted" if isinstance(exc, RunInterrupted) else "failed"
            record.seconds, record.error = seconds, repr(exc)
            try:
                ctx.events.emit(
                    StageFailed(
                        run_id=ctx.run_id,
                        stage=name,
                        seconds=seconds,
                        error=repr(exc),
                        exception=exc,
                        context=ctx,
                    )
                )
            except HookError as hook_exc:
                exc.add_note(f"panelml: additionally, {hook_exc}")
            raise
        ctx.results[name] = result
        fingerprints[name] = fingerprint
        seconds = time.perf_counter() - t0
        record.status, record.seconds, record.fingerprint = "ran", seconds, fingerprint
        record.summary = result.manifest_summary()
        ctx.reporter.info(f"{prefix}: done ({seconds:.2f}s)")
        ctx.events.emit(
            StageCompleted(
                run_id=ctx.run_id,
                stage=name,
                seconds=seconds,
                cache_key=key,
                fingerprint=fingerprint,
                result=result,
                context=ctx,
            )
        )

    def _skip_reason(
        self, ctx: RunContext, planned: PlannedStage, records: dict[str, StageRecord]
    ) -> str | None:
        if not planned.enabled:
            return "disabled in the config"
        position = self.names.index(planned.name)
        for needed in planned.stage.inputs():
            if needed.optional or ctx.input(needed.kind) is not None:
                continue
            providers = [p.name for p in self.stages[:position] if provides(p.stage, needed.kind)]
            status = records[providers[-1]].status if providers else "not run"
            return f"requires {needed.kind!r}, which was {status}"
        return planned.stage.skip(ctx)

    def _key_document(
        self, ctx: RunContext, stage: Stage[Any], fingerprints: dict[str, str]
    ) -> dict[str, Any]:
        """What ``stage``'s cache key is the hash of (see :func:`key_document`)."""
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

    def _key(self, ctx: RunContext, stage: Stage[Any], fingerprints: dict[str, str]) -> str:
        return sha256_json(self._key_document(ctx, stage, fingerprints))

    # -- the record --------------------------------------------------------------
    def _manifest(
        self,
        ctx: RunContext,
        records: dict[str, StageRecord],
        started: float,
        config_snapshot: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "run_id": ctx.run_id,
            "experiment": ctx.experiment,
            "status": "running",
            "started": iso(started),
            "finished": None,
            "seconds": None,
            "process": process_identity(),
            "seed": ctx.seed,
            "data_fingerprint": ctx.data_fingerprint,
            "config_hash": None if config_snapshot is None else sha256_json(config_snapshot),
            "versions": library_versions(),
            # what loading did to the data (dropped columns, NaN/inf, ...): Panel.report
            "data_warnings": [
                str(w) for w in getattr(getattr(ctx.data, "report", None), "warnings", None) or ()
            ],
            "stages": [dict(vars(r)) for r in records.values()],
        }

    def _finish(
        self,
        ctx: RunContext,
        manifest: dict[str, Any],
        records: dict[str, StageRecord],
        started: float,
        error: BaseException | None,
    ) -> None:
        finished = time.time()
        if error is None:
            status = "finished"
        elif isinstance(error, RunInterrupted):
            status = "interrupted"
            error.run_dir = ctx.run_dir
        else:
            status = "failed"
        manifest.update(
            status=status,
            finished=iso(finished),
            seconds=round(finished - started, 6),
            stages=[dict(vars(r)) for r in records.values()],
        )
        if error is not None:
            manifest["error"] = repr(error)
            try:
                write_manifest(ctx.run_dir, manifest)
            except OSError as write_exc:  # StorageError is not an OSError: a real OS fault
                error.add_note(f"panelml: the manifest could not be written: {write_exc}")
            except Exception as write_exc:
                error.add_note(f"panelml: additionally, {write_exc}")
        else:
            write_manifest(ctx.run_dir, manifest)
        event = PipelineFinished(
            run_id=ctx.run_id,
            status=manifest["status"],
            seconds=manifest["seconds"],
            error=None if error is None else repr(error),
            context=ctx,
        )
        try:
            ctx.events.emit(event)
        except HookError as hook_exc:
            if error is not None:
                error.add_note(f"panelml: additionally, {hook_exc}")
                return
            manifest.update(status="failed", error=repr(hook_exc))
            write_manifest(ctx.run_dir, manifest)
            raise


def check_contract(name: str, result: StageResult) -> None:
    """Raise :class:`ContractError` when ``result`` breaks a contract it provides."""
    problems = result.contract_problems()
    if problems:
        raise ContractError(
            f"stage {name!r} returned a {type(result).__name__} that breaks its contract: "
            f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


def _settings(ctx: RunContext, stage: Stage[Any]) -> dict[str, Any]:
    """Run-wide settings in ``stage``'s cache key (see :func:`cache_key`)."""
    settings: dict[str, Any] = {"seed": ctx.seed, "deterministic": ctx.deterministic}
    for section in stage.config_sections:
        value = getattr(ctx.config, section, None)
        dump = getattr(value, "model_dump", None)
        settings[section] = dump(mode="json") if callable(dump) else value
    return settings

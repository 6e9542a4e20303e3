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

Each stage goes through four phases, skip -> cache -> compute -> publish, and
one place records its :class:`StageRecord` and emits its event; every failure
(the stage's, a storage error, a broken contract, a strict hook) takes one path.
Every result is checked against its contract (:meth:`StageResult.contract_problems`),
saved into ``<run_dir>/<stage>/`` and then ``result.export(run_dir)`` is called,
for computed and cached results alike. After the manifest holds its final
status, each result's :meth:`StageResult.finalize` runs (the report fills in
the run record there). The run folder (created
atomically: it must not exist) also receives ``manifest.json``, ``config.yaml``
and ``events.jsonl``. The manifest goes from ``running`` to ``finished``,
``failed`` or ``interrupted`` (SIGINT/SIGTERM, :mod:`panelml.pipeline.signals`)
and lists the sha256 of every file of each stage folder. Write errors on the
output or cache folder are :class:`~panelml.pipeline.storage.StorageError`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from panelml.pipeline.cache import StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import HookError, PipelineOrderError
from panelml.pipeline.events import (
    Event,
    EventLog,
    PipelineStarted,
    StageCached,
    StageCompleted,
    StageFailed,
    StageSkipped,
    StageStarted,
)
from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.hooks import HookManager
from panelml.pipeline.inputs import check_contract, skip_reason, stage_key_document
from panelml.pipeline.manifest import (
    OUTPUT_SETTING,
    create_run_dir,
    library_versions,
    mark_stale_runs,
    write_manifest,
)
from panelml.pipeline.manifest import new_run_id as new_run_id
from panelml.pipeline.manifest import panelml_version as panelml_version
from panelml.pipeline.memory import release_free_memory
from panelml.pipeline.plan import PlannedStage, check_order
from panelml.pipeline.run_folder import CONFIG_FILE, EVENTS_FILE, MANIFEST, write_text_atomic
from panelml.pipeline.run_record import RunResult, StageRecord, finish_run, start_manifest
from panelml.pipeline.signals import RunInterrupted, interrupt_on_signals
from panelml.pipeline.stage import Stage, StageResult
from panelml.pipeline.stage_io import (
    folder_checksums,
    load_cached,
    record_cache_use,
    save_result,
)
from panelml.pipeline.storage import storage_errors

__all__ = [
    "CONFIG_FILE",
    "EVENTS_FILE",
    "MANIFEST",
    "Pipeline",
    "PlannedStage",
    "RunResult",
    "StageRecord",
    "check_contract",
    "check_order",
    "library_versions",
    "new_run_id",
    "panelml_version",
]


@dataclass
class _Outcome:
    """What the skip, cache or compute phase produced for one stage."""

    status: Literal["ran", "cached", "skipped"]
    result: StageResult | None = None
    fingerprint: str | None = None
    reason: str | None = None


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
        manifest = start_manifest(ctx, records, started, config_snapshot)
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
                finish_run(ctx, manifest, records, started, error)
            finally:
                if self.hooks is not None:
                    self.hooks.detach()
                unsubscribe_log()
                log.close()
        return RunResult(run_dir=run_dir, manifest=manifest, results=dict(ctx.results))

    # -- one stage: skip -> cache -> compute -> publish, then record and emit ------
    def _run_stage(
        self,
        ctx: RunContext,
        planned: PlannedStage,
        position: int,
        records: dict[str, StageRecord],
        fingerprints: dict[str, str],
        force: Collection[str] | Literal["all"],
    ) -> None:
        stage, record = planned.stage, records[planned.name]
        prefix = f"[{position}/{len(self.stages)}] {planned.name}"
        t0 = time.perf_counter()
        try:
            outcome = self._skipped(ctx, planned, records)
            if outcome is None:
                document = self._key_document(ctx, stage, fingerprints)
                record.cache_key = sha256_json(document)
                outcome = self._cached(ctx, stage, record.cache_key, force)
                if outcome is None:
                    outcome = self._compute(ctx, stage, record.cache_key, document, prefix)
                self._publish(ctx, stage, outcome, record, fingerprints)
            self._record(ctx, outcome, record, time.perf_counter() - t0, prefix)
            release_free_memory()  # what the stage freed, before the next one peaks
        except BaseException as exc:
            self._fail(ctx, exc, record, time.perf_counter() - t0)
            raise

    def _skipped(
        self, ctx: RunContext, planned: PlannedStage, records: dict[str, StageRecord]
    ) -> _Outcome | None:
        """Phase 1: a skipped outcome with its reason, or ``None`` to go on."""
        reason = self._skip_reason(ctx, planned, records)
        return None if reason is None else _Outcome("skipped", reason=reason)

    def _cached(
        self,
        ctx: RunContext,
        stage: Stage[Any],
        key: str,
        force: Collection[str] | Literal["all"],
    ) -> _Outcome | None:
        """Phase 2: the verified cache entry, copied into the run folder, or ``None``."""
        if not self._caches(stage) or self.cache is None or force == "all" or stage.name in force:
            return None
        hit = load_cached(self.cache, ctx, stage, key)
        if hit is None:
            return None
        return _Outcome("cached", hit.result, hit.fingerprint)

    def _compute(
        self,
        ctx: RunContext,
        stage: Stage[Any],
        key: str,
        document: Mapping[str, Any],
        prefix: str,
    ) -> _Outcome:
        """Phase 3: run the stage, save the result into the cache and the run folder."""
        name = stage.name
        ctx.events.emit(StageStarted(run_id=ctx.run_id, stage=name, cache_key=key, context=ctx))
        ctx.reporter.info(f"{prefix}: running")
        result = stage.run(ctx)
        if not isinstance(result, StageResult):
            raise TypeError(f"stage {name!r} returned {type(result).__name__}, not a StageResult")
        check_contract(name, result)
        fingerprint = result.fingerprint()
        cache = self.cache if self._caches(stage) else None
        save_result(cache, ctx, name, key, document, result, fingerprint)
        return _Outcome("ran", result, fingerprint)

    def _publish(
        self,
        ctx: RunContext,
        stage: Stage[Any],
        outcome: _Outcome,
        record: StageRecord,
        fingerprints: dict[str, str],
    ) -> None:
        """Phase 4: check, export and hand the result to later stages."""
        result, fingerprint = outcome.result, outcome.fingerprint
        assert result is not None and fingerprint is not None
        if outcome.status == "cached":
            check_contract(stage.name, result)
        with storage_errors(ctx.run_dir, OUTPUT_SETTING):
            result.export(ctx.run_dir)
        record.files = folder_checksums(ctx.run_dir / stage.name)
        ctx.results[stage.name] = result
        fingerprints[stage.name] = fingerprint

    def _record(
        self, ctx: RunContext, outcome: _Outcome, record: StageRecord, seconds: float, prefix: str
    ) -> None:
        """The one place a stage's record is completed and its event emitted."""
        record.status, record.seconds = outcome.status, seconds
        name, key, result = record.name, record.cache_key, outcome.result
        event: Event
        if outcome.status == "skipped" or result is None or key is None:
            record.reason = outcome.reason
            ctx.reporter.info(f"{prefix}: skipped ({outcome.reason})")
            event = StageSkipped(
                run_id=ctx.run_id, stage=name, reason=str(outcome.reason), context=ctx
            )
        else:
            record.fingerprint = outcome.fingerprint
            record.summary = result.manifest_summary()
            done = {"cached": "from cache", "ran": "done"}[outcome.status]
            ctx.reporter.info(f"{prefix}: {done} ({seconds:.2f}s)")
            kind = StageCached if outcome.status == "cached" else StageCompleted
            event = kind(
                run_id=ctx.run_id,
                stage=name,
                seconds=seconds,
                cache_key=key,
                fingerprint=str(outcome.fingerprint),
                result=result,
                context=ctx,
            )
        ctx.events.emit(event)

    def _fail(
        self, ctx: RunContext, exc: BaseException, record: StageRecord, seconds: float
    ) -> None:
        """The one failure path: record the failure, emit ``StageFailed`` (not for a
        strict hook's own failure), never replacing the stage's exception."""
        record.status = "interrupted" if isinstance(exc, RunInterrupted) else "failed"
        record.seconds = seconds
        if isinstance(exc, HookError):
            record.error = "a hook failed (strict_hooks)"
            return
        record.error = repr(exc)
        try:
            ctx.events.emit(
                StageFailed(
                    run_id=ctx.run_id,
                    stage=record.name,
                    seconds=seconds,
                    error=repr(exc),
                    exception=exc,
                    context=ctx,
                )
            )
        except HookError as hook_exc:
            exc.add_note(f"panelml: additionally, {hook_exc}")

    def _caches(self, stage: Stage[Any]) -> bool:
        return self.cache is not None and stage.cacheable

    def _skip_reason(
        self, ctx: RunContext, planned: PlannedStage, records: dict[str, StageRecord]
    ) -> str | None:
        return skip_reason(ctx, self.stages, planned, {n: r.status for n, r in records.items()})

    def _key_document(
        self, ctx: RunContext, stage: Stage[Any], fingerprints: dict[str, str]
    ) -> dict[str, Any]:
        """What ``stage``'s cache key is the hash of (see :func:`stage_key_document`)."""
        return stage_key_document(ctx, stage, fingerprints)

    def _key(self, ctx: RunContext, stage: Stage[Any], fingerprints: dict[str, str]) -> str:
        return sha256_json(self._key_document(ctx, stage, fingerprints))

"""``panelml cache explain``: per stage, what its cache key is made of and whether
an entry would be reused, and if not, why.

It walks the pipeline the way a run would, without running anything: a stage
whose entry is intact is loaded (so later stages see its result and
fingerprint, as in a run); a miss is explained by comparing the key's
ingredients with those of the stage's most recently used entry, naming what
changed (``params.top_n``, ``code.panelml_source``, ``data``, ...). Stages
after a miss cannot be decided before the missing result is computed: they are
reported as ``unknown``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from panelml.pipeline.cache import CacheHit, StageCache
from panelml.pipeline.context import RunContext
from panelml.pipeline.hashing import sha256_json
from panelml.pipeline.plan import provides
from panelml.pipeline.runner import Pipeline, StageRecord

Verdict = Literal["hit", "miss", "damaged", "forced", "skipped", "not cached", "unknown"]


@dataclass
class StageExplanation:
    """What a run would do with one stage's cache entry, and why."""

    stage: str
    verdict: Verdict
    reason: str
    key: str | None = None
    key_inputs: dict[str, Any] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}`` (lists are leaves)."""
    if not isinstance(value, Mapping) or (prefix and not value):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def changed_ingredients(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """The dotted key paths whose values differ between two key documents."""
    a, b = flatten(new), flatten(old)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def _latest_entry_inputs(cache: StageCache, stage: str) -> dict[str, Any] | None:
    """The recorded key ingredients of the stage's most recently used entry."""
    best: tuple[float, dict[str, Any]] | None = None
    for name, key, path in cache.entries():
        if name != stage:
            continue
        meta = cache.entry_meta(name, key)
        inputs = meta.get("key_inputs") if meta else None
        if not isinstance(inputs, dict):
            continue
        try:
            used = (path / "entry.json").stat().st_mtime
        except OSError:
            continue
        if best is None or used > best[0]:
            best = (used, inputs)
    return None if best is None else best[1]


def explain(
    pipeline: Pipeline, ctx: RunContext, *, force: Collection[str] = ()
) -> list[StageExplanation]:
    """One :class:`StageExplanation` per stage of ``pipeline``, in order.

    ``ctx.run_dir`` is never written. Intact entries are loaded into
    ``ctx.results``.
    """
    cache = pipeline.cache
    fingerprints: dict[str, str] = {}
    unknown: list[str] = []
    out: list[StageExplanation] = []
    records = {p.name: StageRecord(p.name, status="cached") for p in pipeline.stages}
    for planned in pipeline.stages:
        stage, name = planned.stage, planned.name
        waiting = list(
            dict.fromkeys(
                n
                for needed in stage.inputs()
                for n in unknown
                if provides(pipeline.stages[pipeline.names.index(n)].stage, needed.kind)
            )
        )
        if waiting:
            unknown.append(name)
            out.append(
                StageExplanation(
                    name,
                    "unknown",
                    f"depends on {', '.join(map(repr, waiting))}, which would be recomputed; "
                    "a hit is still possible if its result comes out the same",
                )
            )
            continue
        reason = pipeline._skip_reason(ctx, planned, records)
        if reason is not None:
            records[name].status = "skipped"
            out.append(StageExplanation(name, "skipped", reason))
            continue
        document = pipeline._key_document(ctx, stage, fingerprints)
        key = sha256_json(document)
        item = StageExplanation(name, "miss", "", key=key, key_inputs=document)
        out.append(item)
        if cache is None or not stage.cacheable:
            item.verdict, item.reason = "not cached", "the stage is never cached"
            unknown.append(name)
            continue
        if name in force:
            item.verdict, item.reason = "forced", "--force recomputes it"
            unknown.append(name)
            continue
        found = cache.lookup(name, key, stage.result_type)
        if isinstance(found, CacheHit):
            item.verdict, item.reason = "hit", f"entry {found.path} is intact"
            ctx.results[name] = found.result
            fingerprints[name] = found.fingerprint
            continue
        unknown.append(name)
        if found.damaged:
            item.verdict, item.reason = "damaged", found.reason
            continue
        previous = _latest_entry_inputs(cache, name)
        if previous is None:
            item.reason = "no entry for this stage in the cache"
        else:
            item.changed = changed_ingredients(document, previous)
            item.reason = "the latest entry of this stage differs in " + (
                ", ".join(item.changed) if item.changed else "nothing recorded"
            )
    return out

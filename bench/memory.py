"""Benchmark: where the default pipeline's memory goes, stage by stage (not a test;
run by hand).

    python bench/memory.py --scale medium     # 200k rows x 100 features x 12 targets
    python bench/memory.py --scale tiny       # smoke test of the script only

The panel, the experiment and the baseline are those of ``bench/pipeline.py``
(its ``write_data``; serial executor, 1 thread, cache off), so the peaks here
read on the same scale as its "peak RSS above the post-import baseline". Two
child processes run the pipeline, one after the other:

- **rss**: a thread reads the process's resident set every 10 ms and labels it
  with the running stage (``load`` before the first: reading and checking the
  panel). Per stage: the peak above the baseline, as MiB and as a multiple of
  the float32 panel X, and the main thread's stack when it was reached (the
  panelml frames). Also a 1-second timeline of the resident set.
- **traced**: the same run under ``tracemalloc`` (numpy reports every array it
  allocates to it). At each stage's largest traced total the live allocations,
  grouped by the line that allocated them, largest first: which arrays the
  stage holds at its peak. tracemalloc slows the run (about 1.5x) and does not
  see native allocators (LightGBM's own memory, polars's jemalloc, freed heap
  that glibc keeps), so a stage's RSS peak less its traced peak is that memory.

Writes ``bench/results/memory_<scale>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _instrument import current_rss_bytes

from pipeline import SCALES, child_env, code_state, write_data

MIB = 2**20
SAMPLE_S = 0.01
"""How often the rss child reads the resident set."""
TRACE_SAMPLE_S = 0.05
"""How often the traced child reads tracemalloc's total (a snapshot is taken only
when a stage's total grows by ``TRACE_STEP_MIB``: each costs a copy of every trace)."""
TRACE_STEP_MIB = 4
TRACE_FRAMES = 12
TOP_SITES = 10
MIN_SITE_MIB = 1.0


def where(filename: str, lineno: int | None, function: str = "") -> str:
    """A frame as ``panelml/<module path>:<line> (<function>)``, or the library file's
    name for frames outside panelml (no machine paths in the results)."""
    path = Path(filename)
    parts = path.parts
    name = "/".join(parts[parts.index("panelml") :]) if "panelml" in parts else path.name
    return f"{name}:{lineno} ({function})" if function else f"{name}:{lineno}"


def summary(frame: traceback.FrameSummary) -> str:
    """:func:`where` of a stack frame."""
    return where(frame.filename, frame.lineno, frame.name)


def panelml_stack(frame: FrameType | None, depth: int = 8) -> list[str]:
    """The innermost ``depth`` frames of ``frame``'s stack, innermost first, from the
    first panelml frame outwards (the library frames inside it summarised by one)."""
    if frame is None:
        return []
    stack = traceback.extract_stack(frame)
    inner = [f for f in stack if "panelml" in Path(f.filename).parts]
    if not inner:
        return [summary(f) for f in reversed(stack[-depth:])]
    last = stack.index(inner[-1])
    below = stack[last + 1 :]
    shown = ([summary(below[-1])] if below else []) + [summary(f) for f in reversed(inner)]
    return shown[:depth]


class StageLabel:
    """The running stage, set by the run's ``StageStarted`` events."""

    def __init__(self) -> None:
        self.name = "load"

    def subscribe(self, bus: Any) -> None:
        from panelml.pipeline.events import StageStarted

        def started(event: StageStarted) -> None:
            self.name = event.stage

        bus.subscribe(started, StageStarted)


def prepare_child() -> tuple[int, Any, StageLabel]:
    """Import what bench/pipeline.py's pipeline side imports before its baseline;
    returns (baseline RSS, an event bus, the stage label it keeps)."""
    import lightgbm  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import panelml.stages  # noqa: F401
    from panelml.pipeline.events import EventBus

    baseline = current_rss_bytes()
    bus = EventBus()
    label = StageLabel()
    label.subscribe(bus)
    return baseline, bus, label


def run_pipeline(job: Mapping[str, Any], bus: Any, tag: str) -> float:
    """The default pipeline of ``job['config']``, serial, cache off; its wall seconds."""
    import panelml

    t0 = time.perf_counter()
    panelml.run(
        job["config"],
        overrides=["runtime.executor=serial", f"runtime.output_dir=runs_{tag}"],
        no_cache=True,
        quiet=True,
        run_id=f"memory_{tag}",
        events=bus,
    )
    return time.perf_counter() - t0


def sampled_run(
    job: Mapping[str, Any], bus: Any, tag: str, sample: Callable[[], None], every_s: float
) -> float:
    """:func:`run_pipeline` with ``sample()`` called every ``every_s`` seconds from a
    thread of its own while it runs; its wall seconds."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            sample()
            time.sleep(every_s)

    sampler = threading.Thread(target=loop, daemon=True)
    sampler.start()
    try:
        return run_pipeline(job, bus, tag)
    finally:
        done.set()
        sampler.join()


def rss_side(job: Mapping[str, Any]) -> dict[str, Any]:
    """Per-stage RSS peaks above the baseline, with the stack at each."""
    baseline, bus, label = prepare_child()
    main = threading.main_thread().ident
    assert main is not None
    peaks: dict[str, dict[str, Any]] = {}
    timeline: dict[int, tuple[str, int]] = {}
    t0 = time.perf_counter()

    def sample() -> None:
        rss, stage = current_rss_bytes() - baseline, label.name
        second = int(time.perf_counter() - t0)
        if second not in timeline or rss > timeline[second][1]:
            timeline[second] = (stage, rss)
        if rss > peaks.get(stage, {}).get("bytes", -(2**62)):
            frame = sys._current_frames().get(main)
            peaks[stage] = {"bytes": rss, "stack": panelml_stack(frame)}
            del frame  # a held frame would keep its arrays alive

    wall = sampled_run(job, bus, "rss", sample, SAMPLE_S)
    return {
        "wall_s": round(wall, 1),
        "baseline_mib": round(baseline / MIB, 1),
        "stages": {
            stage: {"peak_above_baseline_mib": round(p["bytes"] / MIB, 1), "stack": p["stack"]}
            for stage, p in peaks.items()
        },
        "timeline_1s": [
            [second, stage, round(rss / MIB, 1)]
            for second, (stage, rss) in sorted(timeline.items())
        ],
    }


def traced_side(job: Mapping[str, Any]) -> dict[str, Any]:
    """Per stage, the live allocations (by allocating line) at its largest traced total."""
    _, bus, label = prepare_child()
    tracemalloc.start(TRACE_FRAMES)
    snapshots: dict[str, tuple[int, tracemalloc.Snapshot]] = {}

    def sample() -> None:
        total, stage = tracemalloc.get_traced_memory()[0], label.name
        if total > snapshots.get(stage, (0, None))[0] + TRACE_STEP_MIB * MIB:
            snapshots[stage] = (total, tracemalloc.take_snapshot())

    wall = sampled_run(job, bus, "traced", sample, TRACE_SAMPLE_S)
    tracemalloc.stop()
    stages: dict[str, Any] = {}
    for stage, (total, snapshot) in snapshots.items():
        sites = []
        for stat in snapshot.statistics("traceback")[:TOP_SITES]:
            if stat.size < MIN_SITE_MIB * MIB:
                break
            frames = [f for f in stat.traceback if "panelml" in Path(f.filename).parts]
            sites.append(
                {
                    "mib": round(stat.size / MIB, 1),
                    "arrays": stat.count,
                    "allocated_at": [where(f.filename, f.lineno) for f in reversed(frames[-4:])],
                }
            )
        stages[stage] = {"traced_peak_mib": round(total / MIB, 1), "sites": sites}
    return {"wall_s": round(wall, 1), "stages": stages}


SIDES = {"rss": rss_side, "traced": traced_side}


def run_child(side: str, job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """One side in a fresh process (1 OpenMP/BLAS/polars thread, as bench/pipeline.py)."""
    job_path, out_path = workdir / f"memory_job_{side}.json", workdir / f"memory_{side}.json"
    job_path.write_text(json.dumps({**job, "out": str(out_path)}))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--side",
        side,
        "--job",
        str(job_path),
    ]
    done = subprocess.run(command, env=child_env(threads=1), check=False)
    if done.returncode != 0 or not out_path.exists():
        return {"error": f"{side} child exited with {done.returncode}"}
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def print_report(report: Mapping[str, Any]) -> None:
    x_mib = report["x_float32_mib"]
    print(f"\nmemory, scale {report['scale']}: X float32 {x_mib} MiB")
    rss = report["rss"].get("stages", {})
    traced = report["traced"].get("stages", {})
    print(f"  {'stage':<18} {'RSS peak above baseline':>26} {'traced peak':>12}")
    nan = float("nan")
    for stage in [*rss, *(s for s in traced if s not in rss)]:
        mib = rss.get(stage, {}).get("peak_above_baseline_mib", nan)
        traced_mib = traced.get(stage, {}).get("traced_peak_mib", nan)
        print(f"  {stage:<18} {mib:>11.1f} MiB = {mib / x_mib:4.2f}x X {traced_mib:>8.1f} MiB")
        if stage in rss:
            print(f"    at {' <- '.join(rss[stage]['stack'][:4])}")
        for site in traced.get(stage, {}).get("sites", [])[:5]:
            print(f"      {site['mib']:7.1f} MiB x{site['arrays']:<4} {site['allocated_at'][0]}")
    for side in ("rss", "traced"):
        if "error" in report[side]:
            print(f"  {side}: ERROR {report[side]['error']}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="medium")
    parser.add_argument("--sides", default="rss,traced", help="which children to run")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.side is not None:  # a child process
        child_job: dict[str, Any] = json.loads(args.job.read_text())
        Path(child_job["out"]).write_text(json.dumps(SIDES[args.side](child_job), indent=2))
        return

    scale = SCALES[args.scale]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="panelml-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "experiment.yaml"
    if not config.exists():
        config = write_data(workdir, scale, threads=1)
    job = {"config": str(config)}
    wanted = [side for side in args.sides.split(",") if side]
    report: dict[str, Any] = {
        "scale": args.scale,
        "rows": scale.n_rows,
        "features": scale.n_features,
        "x_float32_mib": round(scale.n_rows * scale.n_features * 4 / MIB, 1),
        **code_state(),
    }
    for side in SIDES:
        report[side] = run_child(side, job, workdir) if side in wanted else {"error": "not run"}
    out = args.out or Path(__file__).resolve().parent / "results" / f"memory_{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()

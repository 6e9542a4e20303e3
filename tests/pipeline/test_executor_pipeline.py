"""A whole run on every executor: byte-identical result tables, and progress per stage.

Under ``runtime.deterministic: true`` the serial, process (2 workers x 1 thread)
and Ray (a local Ray with 2 CPUs, started once for this module) executors must
give tables with identical content digests: the stages hand their fit sets and
targets to the executor, tasks carry their own seeds, and results come back in
input order. A backend that reordered results, reseeded by worker, or lost the
bin-once reuse's params would change OOF predictions and so these digests.
"""

from __future__ import annotations

import importlib.util
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from panelml import api
from panelml.data.panel import Panel
from panelml.data.synthetic import TargetSpec, make_panel
from panelml.pipeline.reporter import Reporter
from panelml.pipeline.results import frame_digest

T = TypeVar("T")
HAS_RAY = importlib.util.find_spec("ray") is not None
TARGETS = (
    TargetSpec("fwd_ret_1", 1, 0.15, "linear", (0, 1)),
    TargetSpec("fwd_ret_5", 5, 0.2, "linear", (2, 3)),
    TargetSpec("fwd_noise_3", 3, 0.0, "none"),
    TargetSpec("y_up_5", 5, 0.2, "linear", (3, 0), kind="binary"),
)
STAGES = ["leakage_screen", "target_ranking", "feature_selection", "training"]


class RecordingReporter(Reporter):
    """Quiet, but remembers every progress call's description and total."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.calls: list[tuple[str, int | None]] = []

    def progress(
        self, items: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        self.calls.append((description, total))
        yield from items


@pytest.fixture(scope="module")
def panel() -> Panel:
    synthetic = make_panel(
        n_symbols=24,
        n_timestamps=160,
        n_signal_features=4,
        n_noise_features=4,
        targets=TARGETS,
        leaks=False,
        seed=3,
    )
    horizons = {s.name: s.horizon for s in TARGETS}
    return synthetic.to_panel(synthetic.data_config(horizons=horizons))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    if not HAS_RAY:
        pytest.skip("ray is not installed")
    import ray

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        for sig, handler in handlers.items():  # ray.init installs its own SIGTERM handler
            signal.signal(sig, handler)


def run_digests(
    panel: Panel, tmp: Path, executor: str, reporter: Reporter | None = None
) -> dict[str, str]:
    config: dict[str, Any] = {
        "experiment": {"name": "scale"},
        "data": {"path": "<mem>", "targets": [s.name for s in TARGETS]},
        "validation": {"n_splits": 3},
        "pipeline": {"stages": STAGES},
        "runtime": {
            "executor": executor,
            "n_workers": 2 if executor != "serial" else "auto",
            "threads_per_worker": 1,
            "deterministic": True,
            "output_dir": str(tmp / "runs"),
            "cache_dir": str(tmp / "cache"),
            "stability_snapshots": False,
        },
        "target_ranking": {"fdr": 0.5},
    }
    result = api.run(
        config, data=panel, no_cache=True, quiet=True, run_id=executor, reporter=reporter
    )
    return {
        f"{stage}/{name}": frame_digest(frame)
        for stage, tables in sorted(result.tables().items())
        for name, frame in sorted(tables.items())
    }


def test_every_executor_gives_identical_tables(
    panel: Panel, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reporter = RecordingReporter()
    serial = run_digests(panel, tmp_path, "serial", reporter)
    assert {"target_ranking/ranking", "training/metrics"} <= set(serial)
    described = {d.split(":")[0] for d, _ in reporter.calls}
    assert {"leakage_screen", "target_ranking", "feature_selection", "training"} <= described
    assert run_digests(panel, tmp_path, "process") == serial
    if HAS_RAY:
        request.getfixturevalue("local_ray")
        assert run_digests(panel, tmp_path, "ray") == serial

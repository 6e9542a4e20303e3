"""numpy's huge-page advice during a run (``runtime.numpy_hugepages``): ``auto``
reads the kernel's THP defrag policy, the run sets numpy's switch and puts it
back, and worker tasks set it in their own process.

The policy parsing is checked on every policy the kernel offers, so reading the
wrong word (the first instead of the bracketed one) fails; the switch is read
inside and after a run, so a run that never set it, or left it set, fails.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import panelml
from panelml.config import RuntimeConfig
from panelml.data.synthetic import make_panel
from panelml.pipeline import hugepages
from panelml.pipeline.executor import _process_task, executor_for_runtime
from panelml.pipeline.hugepages import numpy_hugepages, set_numpy_hugepages, wanted_hugepages
from panelml.pipeline.runner import Pipeline

POLICIES = {
    "[always] defer defer+madvise madvise never": None,
    "always [defer] defer+madvise madvise never": None,
    "always defer [defer+madvise] madvise never": False,
    "always defer defer+madvise [madvise] never": False,
    "always defer defer+madvise madvise [never]": None,
}


@pytest.mark.parametrize(("policy", "wanted"), POLICIES.items())
def test_auto_turns_the_advice_off_where_faults_compact(
    policy: str, wanted: bool | None, tmp_path: Path
) -> None:
    path = tmp_path / "defrag"
    path.write_text(policy + "\n")
    assert wanted_hugepages("auto", path) is wanted
    assert wanted_hugepages(True, path) is True and wanted_hugepages(False, path) is False
    assert wanted_hugepages("auto", tmp_path / "missing") is None  # unreadable: numpy's own


def _advice() -> bool:
    """numpy's current advice (read by setting it and putting it back)."""
    previous = set_numpy_hugepages(True)
    assert previous is not None, "this numpy has no huge-page switch"
    set_numpy_hugepages(previous)
    return previous


def test_the_context_sets_the_switch_and_puts_it_back() -> None:
    before = _advice()
    with numpy_hugepages(not before):
        assert _advice() is (not before)
    assert _advice() is before
    with numpy_hugepages(None):  # None leaves numpy's choice alone
        assert _advice() is before


def test_a_run_and_its_worker_tasks_use_the_resolved_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "defrag"
    policy.write_text("always defer defer+madvise [madvise] never\n")
    monkeypatch.setattr(hugepages, "DEFRAG_POLICY", policy)
    before = _advice()
    seen: list[bool] = []

    def record(self: Pipeline, ctx: object, **_: object) -> None:
        seen.append(_advice())
        raise _StopRunError

    monkeypatch.setattr(Pipeline, "run", record)
    synthetic = make_panel(n_symbols=12, n_timestamps=120, leaks=False, seed=0)
    for setting, expected in (("auto", False), (True, True)):
        config = {
            "experiment": {"name": "pages"},
            "data": {"targets": ["fwd_*"]},
            "runtime": {
                "output_dir": str(tmp_path / "runs"),
                "cache_dir": str(tmp_path / "cache"),
                "numpy_hugepages": setting,
            },
        }
        with warnings.catch_warnings(), pytest.raises(_StopRunError):
            warnings.simplefilter("ignore", RuntimeWarning)
            panelml.run(config, data=synthetic.frame, quiet=True)
        assert seen[-1] is expected
        assert _advice() is before  # the process's own setting comes back
    executor, _ = executor_for_runtime(RuntimeConfig(executor="process"))
    assert executor.numpy_hugepages is False
    try:  # a worker task sets it in its own process before running
        assert _process_task(_advice_task, None, 0, False) is False
        assert _process_task(_advice_task, None, 0, True) is True
    finally:
        set_numpy_hugepages(before)


def _advice_task(item: int) -> bool:
    return _advice()


class _StopRunError(Exception):
    """Ends the run at its start (the test reads numpy's switch only)."""

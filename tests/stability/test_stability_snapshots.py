"""The snapshot store: round trips, atomic parts, a killed writer, building rows from results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from panelml.pipeline.errors import UserError
from panelml.pipeline.results import TableResult
from panelml.stability.snapshots import (
    SNAPSHOT_SCHEMA,
    SnapshotStore,
    SnapshotStoreError,
    selection_snapshots,
    snapshots_from_result,
    training_snapshots,
)

SRC = Path(__file__).resolve().parents[2] / "src"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _selection_table(selected: list[int]) -> pl.DataFrame:
    n = len(selected)
    return pl.DataFrame(
        {
            "feature": [f"f{j}" for j in range(n)],
            "consensus_score": [float(n - j) for j in range(n)],
            "rank": list(range(1, n + 1)),
            "selected": [bool(s) for s in selected],
        }
    )


def _frame(run_id: str, selected: list[int], minutes: int = 0) -> pl.DataFrame:
    return selection_snapshots(
        {"y": _selection_table(selected)},
        run_id=run_id,
        experiment="exp",
        created=T0 + timedelta(minutes=minutes),
    )


def test_store_is_a_folder_of_parts_that_reads_back_in_a_stable_order(tmp_path: Path) -> None:
    store = SnapshotStore.for_experiment(tmp_path / "runs" / "exp")
    assert store.path == tmp_path / "runs" / "exp" / "stability" / "snapshots.parquet"
    assert store.read().height == 0 and store.read().schema == pl.Schema(SNAPSHOT_SCHEMA)

    store.write(_frame("r2", [1, 0, 1], minutes=5), run_id="r2", stage="feature_selection")
    store.write(_frame("r1", [1, 1, 0]), run_id="r1", stage="feature_selection")

    assert store.path.is_dir()
    assert [p.name for p in store.parts()] == [
        "part-r1--feature_selection.parquet",
        "part-r2--feature_selection.parquet",
    ]
    frame = store.read()
    assert frame.height == 6
    assert frame["run_id"].to_list() == ["r1"] * 3 + ["r2"] * 3
    assert store.run_ids() == ["r1", "r2"]
    assert store.read(exclude_run="r1")["run_id"].unique().to_list() == ["r2"]
    assert store.read(experiment="other").height == 0
    assert store.read(methods=["lightgbm"]).height == 0


def test_rewriting_the_same_run_and_stage_replaces_its_part(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots.parquet")
    store.write(_frame("r1", [1, 1, 0]), run_id="r1", stage="feature_selection")
    store.write(_frame("r1", [0, 0, 1]), run_id="r1", stage="feature_selection")
    frame = store.read()
    assert frame.height == 3
    assert frame.filter(pl.col("selected"))["feature"].to_list() == ["f2"]


def test_unsafe_run_ids_still_give_distinct_part_names(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "s")
    a, b = store.part_path("a/b", "training"), store.part_path("a_b", "training")
    assert a != b and a.parent == b.parent == store.path


def test_temporary_files_are_never_read(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "s")
    store.write(_frame("r1", [1, 0]), run_id="r1", stage="feature_selection")
    (store.path / ".part-r2--feature_selection-123-abcd.tmp").write_bytes(b"half a parq")
    assert store.read()["run_id"].unique().to_list() == ["r1"]
    assert store.remove_stale_temp_files(older_than_s=3600) == []
    removed = store.remove_stale_temp_files(older_than_s=-1)
    assert [p.name for p in removed] == [".part-r2--feature_selection-123-abcd.tmp"]


def test_a_frame_without_the_snapshot_columns_is_a_user_error(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "s")
    with pytest.raises(SnapshotStoreError, match="lacks columns") as info:
        store.write(pl.DataFrame({"feature": ["a"]}), run_id="r1", stage="training")
    assert isinstance(info.value, UserError)


def test_a_file_where_the_store_folder_should_be_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("not a folder")
    with pytest.raises(SnapshotStoreError, match="must be a folder"):
        SnapshotStore(tmp_path / "s").write(_frame("r1", [1]), run_id="r1", stage="x")


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    import polars as pl
    import panelml.stability.snapshots as snap

    def frame(run_id):
        table = pl.DataFrame({"feature": ["a", "b", "c"], "consensus_score": [3.0, 2.0, 1.0],
                              "rank": [1, 2, 3], "selected": [True, True, False]})
        return snap.selection_snapshots({"y": table}, run_id=run_id, experiment="exp",
                                        created=datetime(2025, 1, 1, tzinfo=UTC))

    store = snap.SnapshotStore(Path(sys.argv[1]))
    store.write(frame("r1"), run_id="r1", stage="feature_selection")
    fsync = snap.os.fsync

    def slow_fsync(fd):  # the part is written, not yet renamed onto its name
        fsync(fd)
        print("WRITING", flush=True)
        time.sleep(120)

    snap.os.fsync = slow_fsync
    store.write(frame("r2"), run_id="r2", stage="feature_selection")
    print("NOT KILLED", flush=True)
    """
)


def test_a_run_killed_while_writing_leaves_every_complete_part_readable(tmp_path: Path) -> None:
    store_path = tmp_path / "exp" / "stability" / "snapshots.parquet"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(store_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "WRITING", proc.stderr.read() if proc.stderr else ""
        temp_files = list(store_path.glob(".*.tmp"))
        assert len(temp_files) == 1 and temp_files[0].stat().st_size > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = SnapshotStore(store_path)
    assert [p.name for p in store.parts()] == ["part-r1--feature_selection.parquet"]
    frame = store.read()
    assert frame["run_id"].unique().to_list() == ["r1"]
    assert frame.height == 3
    # the store stays writable, and the dead write's temp file can be cleaned up
    store.write(_frame("r3", [1, 0, 0]), run_id="r3", stage="feature_selection")
    assert store.run_ids() == ["r1", "r3"]
    time.sleep(0.01)
    assert len(store.remove_stale_temp_files(older_than_s=0)) == 1


def test_selection_result_becomes_consensus_rows() -> None:
    result = TableResult(
        {"y": _selection_table([1, 0, 1]), "summary": pl.DataFrame({"x": [1]})},
        {"stability": {"y": {"phi": 0.5}}},
    )
    rows = snapshots_from_result(result, run_id="r1", experiment="exp", stage="feature_selection")
    assert rows.columns == list(SNAPSHOT_SCHEMA)
    assert rows["method"].unique().to_list() == ["consensus"]
    assert rows["target"].unique().to_list() == ["y"]
    assert rows.filter(pl.col("selected"))["feature"].to_list() == ["f0", "f2"]
    assert rows["importance"].to_list() == [3.0, 2.0, 1.0]
    assert rows["stage"].unique().to_list() == ["feature_selection"]


def test_training_importances_become_one_method_per_family() -> None:
    importances = pl.DataFrame(
        {
            "target": ["y", "y", "y", "z"],
            "family": ["lightgbm", "lightgbm", "ridge", "ridge"],
            "feature": ["a", "b", "a", "c"],
            "importance": [5.0, 1.0, 0.3, 0.2],
            "rank": [1, 2, 1, 1],
        }
    )
    result = TableResult({"importances": importances, "metrics": pl.DataFrame({"x": [0]})})
    rows = snapshots_from_result(result, run_id="r1", experiment="exp", stage="training")
    assert rows.height == 4
    assert sorted(set(rows["method"].to_list())) == ["lightgbm", "ridge"]
    assert rows["selected"].all()
    without_rank = training_snapshots(importances.drop("rank"), run_id="r", experiment="e")
    assert without_rank.filter(pl.col("method") == "lightgbm")["rank"].to_list() == [1, 2]


def test_results_of_other_shapes_give_no_rows() -> None:
    assert snapshots_from_result(object(), run_id="r", experiment="e", stage="x").height == 0
    other = TableResult({"ranking": pl.DataFrame({"target": ["y"]})})
    assert snapshots_from_result(other, run_id="r", experiment="e", stage="x").height == 0

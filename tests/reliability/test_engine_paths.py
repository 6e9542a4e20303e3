"""Where runs write: run ids that would escape ``output_dir``, and folders that
cannot take a write (a file in the way, no permission, a full disk).

Before: ``--run-id ../../../x`` and absolute paths wrote outside ``output_dir``;
each folder fault was a traceback with exit 1; a full disk left the manifest
at ``running`` next to a 0-byte ``.manifest.json.tmp``.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panelml.cli import app
from panelml.pipeline.cache import StageCache
from panelml.pipeline.results import JsonResult

runner = CliRunner()


@pytest.fixture
def config(
    toy_stages: Any, toy_config: Any, write_config: Callable[..., Path], toy_data: Any
) -> Path:
    return write_config(toy_config(runtime={"quiet": True}))


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "run_id",
    ["../../../x", "../x", "a/b", "/tmp/abs-run", "..", ".hidden", "a\\b", "x y", "", "-x"],
)
def test_run_ids_that_are_not_plain_names_are_refused(
    config: Path, tmp_path: Path, run_id: str
) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = runner.invoke(app, ["run", str(config), "--run-id", run_id])
    assert out.exit_code == 2, out.output
    assert "--run-id" in _one_error_line(out.output)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/abs-run").exists()


def test_a_plain_run_id_is_accepted(config: Path, tmp_path: Path) -> None:
    out = runner.invoke(app, ["run", str(config), "--run-id", "2025-01-31_base.v2"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "runs" / "toy" / "2025-01-31_base.v2" / "manifest.json").is_file()


@pytest.mark.parametrize("setting", ["output_dir", "cache_dir"])
def test_a_file_where_a_folder_should_be_is_one_line(
    config: Path, tmp_path: Path, setting: str
) -> None:
    (tmp_path / "blocker").write_text("not a folder")
    out = runner.invoke(app, ["run", str(config), "--set", f"runtime.{setting}=blocker"])
    assert out.exit_code == 2, out.output
    line = _one_error_line(out.output)
    assert "blocker" in line and f"runtime.{setting}" in line and "a file is in the way" in line


def _no_space(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_saving_a_result_is_one_line_and_the_run_is_failed(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(JsonResult, "save", _no_space)
    out = runner.invoke(app, ["run", str(config), "--run-id", "full"])
    assert out.exit_code == 2, out.output
    line = _one_error_line(out.output)
    assert "No space left on device" in line and "free some disk space" in line
    assert "runtime.cache_dir" in line
    run_dir = tmp_path / "runs" / "toy" / "full"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "failed"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not list((tmp_path / ".panelml" / "cache").rglob(".tmp-*"))


def test_a_disk_that_fills_up_mid_run_never_leaves_the_manifest_running(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first stage every new file fails (ENOSPC, as a full disk does);
    the final manifest is written over the old one in place."""
    real_save = JsonResult.save
    real_write_text = Path.write_text
    full = {"on": False}

    def save(self: JsonResult, directory: Path) -> None:
        if full["on"]:
            _no_space()
        real_save(self, directory)
        full["on"] = True

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if full["on"] and self.name.endswith(".tmp"):
            real_write_text(self, "")  # a full disk: the file appears, empty
            _no_space()
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(JsonResult, "save", save)
    monkeypatch.setattr(Path, "write_text", write_text)
    out = runner.invoke(app, ["run", str(config), "--run-id", "fills"])
    assert out.exit_code == 2, out.output
    _one_error_line(out.output)
    run_dir = tmp_path / "runs" / "toy" / "fills"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [s["status"] for s in manifest["stages"]] == ["ran", "failed", "pending"]
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_cache_is_one_line(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/cache/alpha")

    monkeypatch.setattr(StageCache, "store", denied)
    out = runner.invoke(app, ["run", str(config)])
    assert out.exit_code == 2, out.output
    line = _one_error_line(out.output)
    assert "/srv/cache/alpha" in line and "make it writable" in line

"""Checksums, atomic writes and OS errors as one-line user errors."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from panelml.pipeline.errors import UserError
from panelml.pipeline.manifest import check_run_id
from panelml.pipeline.storage import (
    StorageError,
    check_tree,
    overwrite_in_place,
    storage_errors,
    tree_sha256,
    write_text_atomic,
)


def test_check_tree_names_the_first_difference(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.txt").write_text("b")
    digests = tree_sha256(tmp_path)
    assert list(digests) == ["a.txt", "sub/b.txt"]
    assert check_tree(tmp_path, digests) is None
    (tmp_path / "sub" / "b.txt").write_text("B")
    assert "sub/b.txt has sha256" in str(check_tree(tmp_path, digests))
    (tmp_path / "sub" / "b.txt").unlink()
    assert check_tree(tmp_path, digests) == "file sub/b.txt is missing"
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / "c.txt").write_text("c")
    assert check_tree(tmp_path, digests) == "unexpected file c.txt"


@pytest.mark.parametrize(
    ("err", "fix"),
    [
        (errno.ENOSPC, "free some disk space"),
        (errno.EACCES, "make it writable"),
        (errno.EROFS, "make it writable"),
        (errno.ENOTDIR, "a file is in the way"),
        (errno.EIO, "check the folder"),
    ],
)
def test_os_errors_become_one_line_naming_path_and_setting(err: int, fix: str) -> None:
    with pytest.raises(StorageError) as caught, storage_errors(Path("/out"), "runtime.output_dir"):
        raise OSError(err, "reason", "/out/x/file")
    message = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in message
    assert message.startswith("cannot write /out/x/file (reason); ")
    assert fix in message and "runtime.output_dir" in message


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.json"
    write_text_atomic(target, "old")
    real = Path.replace

    def full(self: Path, other: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "replace", full)
    with pytest.raises(OSError):
        write_text_atomic(target, "new")
    monkeypatch.setattr(Path, "replace", real)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_overwrite_in_place_truncates(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    target.write_text('{"status": "running", "padding": "xxxxxxxx"}')
    overwrite_in_place(target, '{"status":"failed"}')
    assert target.read_text() == '{"status":"failed"}'


@pytest.mark.parametrize("good", ["r1", "2025-01-31_base.v2", "A"])
def test_plain_run_ids_pass(good: str) -> None:
    assert check_run_id(good) == good


@pytest.mark.parametrize("bad", ["", "..", "../x", "/abs", "a/b", ".x", "-x", "a b", "x" * 201])
def test_unsafe_run_ids_are_user_errors(bad: str) -> None:
    with pytest.raises(UserError, match="is not a valid run id"):
        check_run_id(bad)

"""Files the engine writes: checksums, and OS errors as user errors.

Atomic writes live in :mod:`panelml.pipeline.run_folder` (re-exported here).

Why one module: the cache, the run folder and ``panelml runs verify`` must agree
on how a file's checksum is computed, and every write into the user's
``output_dir`` or ``cache_dir`` must fail the same way when the folder is a file,
read-only or on a full disk: one :class:`StorageError` line naming the path and
the fix, never a traceback.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from panelml.pipeline.errors import UserError
from panelml.pipeline.run_folder import overwrite_in_place as overwrite_in_place
from panelml.pipeline.run_folder import write_text_atomic as write_text_atomic

_CHUNK = 1 << 20


class StorageError(UserError):
    """A folder panelml writes to (``output_dir``, ``cache_dir``) cannot take the write."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(root: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``root``, sorted by path."""
    base = Path(root)
    files = sorted(p for p in base.rglob("*") if p.is_file())
    return {p.relative_to(base).as_posix(): file_sha256(p) for p in files}


def check_tree(root: Path, expected: Mapping[str, str]) -> str | None:
    """Compare the files under ``root`` with ``expected`` checksums.

    Returns ``None`` when every expected file is there with its checksum and no
    other file exists, else a short reason naming the first file that differs.
    """
    base = Path(root)
    try:
        present = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    except OSError as exc:
        return f"cannot list {base}: {exc.strerror or exc}"
    extra = sorted(set(present) - set(expected))
    if extra:
        return f"unexpected file {extra[0]}"
    for name in sorted(expected):
        path = base / name
        if not path.is_file():
            return f"file {name} is missing"
        try:
            actual = file_sha256(path)
        except OSError as exc:
            return f"cannot read {name}: {exc.strerror or exc}"
        if actual != expected[name]:
            return f"file {name} has sha256 {actual[:12]}..., expected {expected[name][:12]}..."
    return None


def _fix(err: int | None, setting: str) -> str:
    if err == errno.ENOSPC or err == errno.EDQUOT:
        return f"free some disk space or set {setting} to a folder on another disk"
    if err in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make it writable or set {setting} to a writable folder"
    if err in (errno.ENOTDIR, errno.EEXIST):
        return f"a file is in the way: move it, or set {setting} to a folder"
    return f"check the folder or set {setting} to another folder"


def storage_error(exc: OSError, path: Path, setting: str) -> StorageError:
    """The one-line :class:`StorageError` for an OS error while writing under ``path``."""
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"cannot write {where} ({reason}); {_fix(exc.errno, setting)}")


@contextmanager
def storage_errors(path: Path, setting: str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block into a :class:`StorageError`.

    ``setting`` is the config key that chose ``path`` (``runtime.output_dir`` or
    ``runtime.cache_dir``); the message names it as the fix.
    """
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error(exc, path, setting) from exc

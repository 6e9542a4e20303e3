"""Integrity of saved model folders: file digests and a self-checking ``meta.json``.

A model folder (``models/<target>/<family>/``) holds the family's native files
and ``meta.json``. Corrupt model files must never reach LightGBM, XGBoost or
skops (a truncated LightGBM text model crashes the process), so:

* ``meta.json`` records ``files``: the sha256 of every other file under the
  folder (relative POSIX path -> hex digest), checked before any is loaded;
* ``meta.json`` protects itself: ``meta_sha256`` is the sha256 of its own
  canonical text without that key, and the file must be byte-identical to the
  canonical text with it. Any changed byte therefore either breaks the JSON,
  changes a value (digest mismatch) or changes the layout (text mismatch).

Canonical text: ``json.dumps(record, indent=2, sort_keys=True)`` plus a newline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DIGEST_KEY",
    "FILES_KEY",
    "IntegrityError",
    "canonical_text",
    "file_digests",
    "read_checked_json",
    "sealed_text",
    "sha256_file",
    "verify_files",
]

FILES_KEY = "files"
DIGEST_KEY = "meta_sha256"
_CHUNK = 1 << 20


class IntegrityError(Exception):
    """A saved file is missing or differs from its recorded digest (message names it)."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(folder: Path, *, skip: str) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative POSIX path -> hex), except the
    file named ``skip`` at the top level."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        if relative != skip:
            out[relative] = sha256_file(path)
    return out


def canonical_text(record: Mapping[str, Any]) -> str:
    """The one text a record is written as (see the module docstring)."""
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def sealed_text(record: Mapping[str, Any]) -> str:
    """``record`` (JSON-ready) with its ``meta_sha256`` added, as canonical text."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(record), default=str))
    plain.pop(DIGEST_KEY, None)
    digest = hashlib.sha256(canonical_text(plain).encode("utf-8")).hexdigest()
    return canonical_text({**plain, DIGEST_KEY: digest})


def read_checked_json(path: Path, *, sealed: bool = False) -> dict[str, Any]:
    """The record in ``path``; when it carries ``meta_sha256`` it is verified (module doc).

    ``sealed=True`` also requires the digest (a record whose key was damaged must
    not pass as an old unsealed one). Raises :class:`IntegrityError` for
    unreadable, non-object, unsealed (when required) or altered records.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IntegrityError(f"cannot read {path} ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise IntegrityError(f"{path} does not hold a JSON object")
    recorded = record.get(DIGEST_KEY)
    if recorded is None:
        if sealed:
            raise IntegrityError(f"{path} has no {DIGEST_KEY}: it was modified or is incomplete")
        return record
    plain = {k: v for k, v in record.items() if k != DIGEST_KEY}
    expected = hashlib.sha256(canonical_text(plain).encode("utf-8")).hexdigest()
    if recorded != expected or text != canonical_text(record):
        raise IntegrityError(f"{path} was modified after it was written (its digest differs)")
    return record


def verify_files(folder: Path, digests: Any) -> None:
    """Check every file ``digests`` lists under ``folder`` exists and matches.

    Raises :class:`IntegrityError` naming the first missing or altered file.
    """
    if not isinstance(digests, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
    ):
        raise IntegrityError(f"{folder}: the recorded file digests are not a name -> hex mapping")
    root = folder.resolve()
    for name, expected in sorted(digests.items()):
        path = (folder / name).resolve()
        if not path.is_relative_to(root) or name.startswith("/"):
            raise IntegrityError(f"{folder}: the recorded file {name!r} lies outside the folder")
        if not path.is_file():
            raise IntegrityError(f"{folder / name} is missing")
        if sha256_file(path) != expected:
            raise IntegrityError(
                f"{folder / name} differs from the file that was saved (sha256 mismatch)"
            )

"""Run states: ``running -> finished | failed | interrupted``, and stale runs.

A run's ``manifest.json`` says ``running`` from its first write until the run
ends. A process killed with SIGKILL (or a machine that lost power) cannot
update it, so a ``running`` manifest alone does not mean the run is alive. The
manifest therefore records the process that writes it (``process``: pid, host,
and the process's start time as the kernel reports it) and
:func:`run_state` reports ``interrupted`` for a ``running`` manifest whose
process is gone: on this host, no process with that pid, or one with the same
pid but a different start time (a reused pid). A run on another host is taken
at its word.

:func:`run_state` is the public question "may I trust this run folder?" that
``runs list``, the ``stability`` stage, ``predict`` and ``report`` ask; it
imports nothing of the ML side. Manifests written before states existed said
``ok``: read as ``finished``.
"""

from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from panelml.pipeline.run_folder import MANIFEST

__all__ = [
    "MANIFEST",
    "RunState",
    "effective_state",
    "process_alive",
    "process_identity",
    "read_manifest",
    "run_state",
]

RunState = Literal["running", "finished", "failed", "interrupted"]
_STATES: frozenset[str] = frozenset({"running", "finished", "failed", "interrupted"})
_LEGACY = {"ok": "finished"}


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), else ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the full line
    except (IndexError, ValueError):
        return None


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def process_identity() -> dict[str, Any]:
    """What identifies this process later: ``{"pid", "host", "start_ticks"}``."""
    pid = os.getpid()
    return {"pid": pid, "host": _host(), "start_ticks": _start_ticks(pid)}


def process_alive(identity: Any) -> bool:
    """Whether the process recorded as ``identity`` may still be running.

    ``False`` only when it is known to be gone: same host, and no process with
    that pid, or one that started at another time. Anything unknown (another
    host, no identity recorded, no permission to ask) counts as alive.
    """
    if not isinstance(identity, dict) or identity.get("host") != _host():
        return True
    pid = identity.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    recorded = identity.get("start_ticks")
    if isinstance(recorded, int):
        current = _start_ticks(pid)
        if current is not None and current != recorded:
            return False
    return True


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run folder's manifest, or ``None`` when it is missing or unreadable."""
    try:
        loaded = json.loads((Path(run_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def effective_state(manifest: dict[str, Any]) -> RunState:
    """The state a manifest stands for: its ``status``, with a ``running`` run
    whose process is gone reported as ``interrupted``. An unknown status reads
    as ``failed``."""
    status = str(manifest.get("status"))
    status = _LEGACY.get(status, status)
    if status not in _STATES:
        return "failed"
    if status == "running" and not process_alive(manifest.get("process")):
        return "interrupted"
    return status  # type: ignore[return-value]


def run_state(run_dir: Path) -> RunState:
    """The state of the run in ``run_dir`` (see the module docstring).

    A folder without a readable manifest reads as ``failed``: nothing in it can
    be trusted.
    """
    manifest = read_manifest(run_dir)
    return "failed" if manifest is None else effective_state(manifest)

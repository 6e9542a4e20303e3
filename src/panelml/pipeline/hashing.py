"""Canonical JSON and digests: the one way the engine turns values into hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace and ASCII only, so equal values give equal text.

    Tuples become lists; non-JSON values are an error rather than silently
    stringified, because a cache key that depends on ``repr`` would be unstable.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_json(value: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()

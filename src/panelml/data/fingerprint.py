"""A fast, stable digest of a Panel's content.

What enters it, in this order, each framed by its length so no two inputs can
collide by concatenation:

1. the scheme tag ``panelml-panel-v1``;
2. feature names (in column order), symbol names (sorted), the timestamp type
   string;
3. for each target in sorted name order: its name, horizon and kind;
4. the bytes of X (float32, C order, little-endian) with its shape, the symbol
   codes (int32), the timestamps (int64), then each target's float64 values in
   sorted target order.

Not included: the source path, the symbol/timestamp column names, and the
loading report. NaN payloads and signed zeros are hashed as stored, so
``-0.0`` and ``0.0`` differ. Large arrays are hashed in fixed 16 MiB chunks on a
few threads and the chunk digests are hashed again, so the value does not
depend on how many threads ran.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

SCHEME = b"panelml-panel-v1"
_CHUNK = 16 * 1024 * 1024
_DIGEST = 32


def _frame(h: hashlib.blake2b, payload: bytes) -> None:
    h.update(len(payload).to_bytes(8, "little"))
    h.update(payload)


def _chunk_digest(view: memoryview) -> bytes:
    return hashlib.blake2b(view, digest_size=_DIGEST).digest()


def _hash_array(h: hashlib.blake2b, array: npt.NDArray[np.generic], dtype: str) -> None:
    data = np.ascontiguousarray(array, dtype=np.dtype(dtype))
    _frame(h, f"{dtype}:{data.shape}".encode())
    flat = data.reshape(-1).view(np.uint8).data
    chunks = [flat[i : i + _CHUNK] for i in range(0, len(flat), _CHUNK)]
    if len(chunks) <= 1:
        digests = [_chunk_digest(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=4) as pool:
            digests = list(pool.map(_chunk_digest, chunks))
    _frame(h, b"".join(digests))


def panel_fingerprint(
    *,
    X: npt.NDArray[np.float32],
    feature_names: Sequence[str],
    targets: Mapping[str, npt.NDArray[np.float64]],
    horizons: Mapping[str, int],
    target_kinds: Mapping[str, str],
    timestamps: npt.NDArray[np.int64],
    symbol_codes: npt.NDArray[np.int32],
    symbols: Sequence[str],
    timestamp_dtype: str,
) -> str:
    """Hex blake2b-256 digest of the Panel content listed in the module docstring."""
    h = hashlib.blake2b(digest_size=_DIGEST)
    _frame(h, SCHEME)
    names = sorted(targets)
    meta = {
        "features": list(feature_names),
        "symbols": sorted(symbols),
        "timestamp_dtype": timestamp_dtype,
        "targets": [[n, int(horizons[n]), str(target_kinds[n])] for n in names],
    }
    _frame(h, json.dumps(meta, separators=(",", ":"), ensure_ascii=True).encode())
    _hash_array(h, X, "<f4")
    _hash_array(h, symbol_codes, "<i4")
    _hash_array(h, timestamps, "<i8")
    for name in names:
        _hash_array(h, targets[name], "<f8")
    return h.hexdigest()

"""The saved-model format: one folder per (target, family) under ``<run_dir>/models/``.

The training stage writes it (:func:`write_bundle`), :mod:`panelml.predict`
and ``panelml runs verify`` read it (:func:`read_bundle`, :func:`bundle_folders`).

Layout written by the training stage (``meta.json``, :data:`META_FILE`, records it too)::

    <run_dir>/models/<target>/<family>/meta.json     what the model needs and how it scored
    <run_dir>/models/<target>/<family>/model.txt ...  the family's native files (scope: pooled)
    <run_dir>/models/<target>/<family>/<symbol>/      one model per symbol (scope: per_symbol),
                                                      each with its native files and meta.json

``<target>``, ``<family>`` and ``<symbol>`` are used as folder names as they
are when they are safe file names (letters, digits, ``_ . = -``), else as
``_`` plus a hash; ``meta.json`` holds the real names (and, per symbol, the
folder of each symbol). Models are stored in their library's native format
(:meth:`panelml.models.ModelFamily.save`), never pickle.

``meta.json`` records the device the model(s) were fitted on (``device``:
``cpu`` or ``cuda``, :mod:`panelml.models.devices`). Every write seals
``meta.json`` with the digests of the folder's files and of itself
(:mod:`panelml.models.integrity`); every read verifies them before a model
library sees a byte, resolves the family by registered name only (a run folder
is data, not code), and refuses records from a newer format or panelml. The
family's own record next to its native files is ``family.json``
(:data:`panelml.models.base.FAMILY_FILE`), written by the family.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelml.models.base import ModelFamily, RowIndex
from panelml.models.integrity import (
    FILES_KEY,
    IntegrityError,
    file_digests,
    read_checked_json,
    sealed_text,
    verify_files,
)
from panelml.models.registry import get_family
from panelml.pipeline.errors import UserError
from panelml.pipeline.manifest import panelml_version
from panelml.pipeline.run_folder import MODEL_META, MODELS_DIR

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_FILE",
    "MODELS_DIR",
    "BundleError",
    "ModelBundle",
    "bundle_device",
    "bundle_folders",
    "read_bundle",
    "safe_name",
    "write_bundle",
]

META_FILE = MODEL_META
"""The record of one saved (target, family) folder (and of each per-symbol folder);
the name is the run folder's (:mod:`panelml.pipeline.run_folder`)."""
FORMAT = "panelml-model"
FORMAT_VERSION = 2
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")


class BundleError(UserError):
    """A saved model folder cannot be used: missing, damaged, foreign or too new.

    :mod:`panelml.predict` raises it as ``BundleError`` (the same class)."""


def safe_name(name: str) -> str:
    """``name`` when it is a safe folder name, else ``_`` plus 16 hex digits of its sha256."""
    if _SAFE.match(name) and name not in (META_FILE,):
        return name
    return "_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


@dataclass
class ModelBundle:
    """The saved model(s) of one (target, family): ``meta`` is ``meta.json``'s content.

    Pooled scope: ``model``. Per-symbol scope: ``by_symbol`` (symbol -> model).
    """

    meta: dict[str, Any]
    model: ModelFamily | None = None
    by_symbol: dict[str, ModelFamily] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return str(self.meta["target"])

    @property
    def family(self) -> str:
        return str(self.meta["family"])

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.meta["features"])

    @property
    def label(self) -> str:
        """The prediction column name ``<target>__<family>``."""
        return f"{self.target}__{self.family}"

    def folder(self, models_root: Path) -> Path:
        return models_root / safe_name(self.target) / safe_name(self.family)

    def predict(
        self, X: npt.NDArray[np.float32], symbols: npt.NDArray[Any], times: npt.NDArray[Any]
    ) -> npt.NDArray[np.float64]:
        """Predictions for new rows ``X`` with each row's symbol and timestamp code
        (integers increasing with time). Families that declare ``needs_row_index``
        get them (:meth:`ModelFamily.predict_indexed`: a sequence model reads each
        symbol's earlier rows); others predict ``X`` row by row. Per-symbol scope:
        each symbol's rows go to its model; rows of other symbols get NaN."""
        names, codes = np.unique(np.asarray(symbols), return_inverse=True)
        index = RowIndex(
            codes.astype(np.int64), np.asarray(times, dtype=np.int64), tuple(map(str, names))
        )
        if self.model is not None:
            return np.asarray(self.model.predict_indexed(X, index), dtype=np.float64)
        out = np.full(X.shape[0], np.nan)
        for symbol, model in self.by_symbol.items():
            mine = np.flatnonzero(np.asarray(symbols) == symbol)
            if mine.size:
                out[mine] = model.predict_indexed(np.ascontiguousarray(X[mine]), index.take(mine))
        return out


def _write_meta(folder: Path, record: Mapping[str, Any]) -> None:
    """``meta.json``: ``record`` plus the digests of every other file under ``folder``,
    sealed with its own digest (:mod:`panelml.models.integrity`)."""
    digests = file_digests(folder, skip=META_FILE)
    text = sealed_text({**record, "format_version": FORMAT_VERSION, FILES_KEY: digests})
    (folder / META_FILE).write_text(text, encoding="utf-8")


def write_bundle(bundle: ModelBundle, models_root: Path) -> Path:
    """Save ``bundle`` under ``models_root/<target>/<family>/`` (layout in the module doc)."""
    folder = bundle.folder(models_root)
    folder.mkdir(parents=True, exist_ok=True)
    bundle.meta["device"] = bundle_device(bundle)
    if bundle.meta.get("scope") == "per_symbol":
        folders: dict[str, str] = bundle.meta["symbols"]
        for symbol in sorted(bundle.by_symbol):
            sub = folder / folders[symbol]
            bundle.by_symbol[symbol].save(sub)
            rounds = (bundle.meta.get("rounds_by_symbol") or {}).get(symbol)
            record = {
                **bundle.meta,
                "symbol": symbol,
                "symbols": None,
                "n_rounds": rounds,
                "device": bundle.by_symbol[symbol].device_,
            }
            _write_meta(sub, record)
    else:
        if bundle.model is None:
            raise ValueError(f"bundle {bundle.label} has no model to save")
        bundle.model.save(folder)
    _write_meta(folder, bundle.meta)
    return folder


def bundle_device(bundle: ModelBundle) -> str:
    """The device the bundle's model(s) were fitted on (``cpu+cuda`` when mixed)."""
    models = [bundle.model] if bundle.model is not None else list(bundle.by_symbol.values())
    return "+".join(sorted({m.device_ for m in models})) or "cpu"


def bundle_folders(run_dir: Path) -> list[Path]:
    """The saved (target, family) folders of a run, sorted (empty when none)."""
    root = run_dir / MODELS_DIR
    return sorted(p.parent for p in root.glob(f"*/*/{META_FILE}")) if root.is_dir() else []


def read_bundle(folder: Path) -> ModelBundle:
    """Load the model(s) saved in ``folder`` by :func:`write_bundle`.

    Every file is checked against the digests in ``meta.json`` before a model
    library sees it; the family is resolved by registered name only (never by a
    dotted path: a run folder is data, not code). Any fault is a
    :class:`BundleError` naming the file and what to do.
    """
    meta_path = folder / META_FILE
    redo = "retrain (rerun the training stage) or restore the run folder from a copy"
    try:
        meta = read_checked_json(meta_path)
    except IntegrityError as exc:
        raise BundleError(f"{exc}: {redo}") from None
    if meta.get("format") != FORMAT:
        raise BundleError(
            f"{meta_path} is not a panelml model record (no format {FORMAT!r}): point at a run "
            "folder written by panelml's training stage"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{meta_path} has no valid format_version ({version!r}): {redo}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{meta_path} has format_version {version}, newer than this panelml reads "
            f"({FORMAT_VERSION}): upgrade panelml to load this run"
        )
    _check_writer(meta, meta_path)
    if version >= 2:
        try:
            read_checked_json(meta_path, sealed=True)
            verify_files(folder, meta.get(FILES_KEY))
        except IntegrityError as exc:
            raise BundleError(f"{exc}: {redo}") from None
    features = meta.get("features")
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        raise BundleError(f"{meta_path} lists no valid 'features': {redo}")
    if len(set(features)) != len(features):
        raise BundleError(f"{meta_path} lists a feature more than once: {redo}")
    try:
        family = get_family(str(meta.get("family")), allow_dotted=False)
    except UserError as exc:
        raise BundleError(f"{meta_path}: {exc}") from None
    bundle = ModelBundle(meta=meta)
    if meta.get("scope") == "per_symbol":
        symbols = meta.get("symbols")
        if not isinstance(symbols, dict) or not symbols:
            raise BundleError(f"{meta_path} names no per-symbol model folders: {redo}")
        for symbol, sub in sorted(symbols.items()):
            bundle.by_symbol[symbol] = _load_model(family, folder / str(sub), meta_path, redo)
    else:
        bundle.model = _load_model(family, folder, meta_path, redo)
    for model in (bundle.model, *bundle.by_symbol.values()):
        if model is not None and model.n_features_ != len(features):
            raise BundleError(
                f"{meta_path} lists {len(features)} features but the saved {family.name} model "
                f"takes {model.n_features_}: the record does not belong to this model; {redo}"
            )
    return bundle


def _release(text: str) -> tuple[int, ...] | None:
    """The leading numbers of a version string (``0.1.0`` -> (0, 1, 0)); None if none."""
    match = re.match(r"^(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _check_writer(meta: Mapping[str, Any], meta_path: Path) -> None:
    """A :class:`BundleError` when a newer panelml wrote the model: it may use
    conventions (labels, params, layouts) this version does not know."""
    versions = meta.get("versions")
    writer = versions.get("panelml") if isinstance(versions, Mapping) else None
    if not isinstance(writer, str):
        return
    ours, theirs = _release(panelml_version()), _release(writer)
    if ours is not None and theirs is not None and theirs > ours:
        raise BundleError(
            f"{meta_path} was written by panelml {writer}, newer than this panelml "
            f"({panelml_version()}): upgrade panelml to load this run"
        )


def _load_model(family: type[ModelFamily], folder: Path, meta_path: Path, redo: str) -> ModelFamily:
    """``family.load(folder)``; any failure is a :class:`BundleError` naming the folder.

    Reached only after the files were verified (or for records older than digests),
    so a failure here means damaged or foreign files, not a bug in panelml.
    """
    resolved = folder.resolve()
    if not resolved.is_relative_to(meta_path.parent.resolve()) or not folder.is_dir():
        raise BundleError(f"{meta_path} points at a model folder {folder} that does not exist")
    try:
        return family.load(folder)
    except Exception as exc:  # any library's refusal of a damaged file is a file fault
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            f"cannot load the {family.name} model in {folder} ({detail}): {redo}"
        ) from None

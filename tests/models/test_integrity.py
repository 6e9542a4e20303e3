"""Saved-model integrity: self-checking records, file digests, registry-only
families, and library parameter errors as user errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from panelml.models import get_family
from panelml.models.base import ModelError, ModelParamsError
from panelml.models.integrity import (
    IntegrityError,
    file_digests,
    read_checked_json,
    sealed_text,
    verify_files,
)
from panelml.pipeline.errors import UserError
from panelml.pipeline.registry import RegistryError
from panelml.predict import (
    FORMAT,
    FORMAT_VERSION,
    ModelBundle,
    PredictError,
    read_bundle,
    safe_name,
    write_bundle,
)

RECORD = {"family": "ridge", "features": ["a", "b"], "n": 3, "x": 0.25, "cv": {"auc": None}}


def test_a_sealed_record_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text(sealed_text(RECORD))
    assert {k: v for k, v in read_checked_json(path).items() if k != "meta_sha256"} == RECORD
    path.write_text(json.dumps(RECORD))
    assert read_checked_json(path) == RECORD  # an unsealed (version 1) record
    with pytest.raises(IntegrityError, match="no meta_sha256"):
        read_checked_json(path, sealed=True)


def test_every_single_byte_change_of_a_sealed_record_is_detected(tmp_path: Path) -> None:
    """Exhaustive over positions: each byte XOR three masks (a bit flip in the low
    bit, a case/space-like flip 0x20, and 0xFF). Parsing alone would accept the
    whitespace flips (space -> tab, newline -> CR) and digit changes; the digest
    and the byte-exact layout must catch all of them."""
    path = tmp_path / "meta.json"
    data = sealed_text(RECORD).encode()
    missed = []
    for position in range(len(data)):
        for mask in (0x01, 0x20, 0xFF):
            changed = bytearray(data)
            changed[position] ^= mask
            path.write_bytes(bytes(changed))
            try:
                read_checked_json(path, sealed=True)
            except IntegrityError:
                continue
            missed.append((position, mask))
    assert missed == []


def test_file_digests_catch_missing_changed_and_escaping_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.txt").write_text("tree\n")
    (tmp_path / "sub" / "x.bin").write_bytes(b"\x00\x01")
    (tmp_path / "meta.json").write_text("{}")
    digests = file_digests(tmp_path, skip="meta.json")
    assert sorted(digests) == ["model.txt", "sub/x.bin"]
    verify_files(tmp_path, digests)
    (tmp_path / "sub" / "x.bin").write_bytes(b"\x00\x02")
    with pytest.raises(IntegrityError, match=r"x\.bin differs"):
        verify_files(tmp_path, digests)
    (tmp_path / "model.txt").unlink()
    with pytest.raises(IntegrityError, match=r"model\.txt is missing"):
        verify_files(tmp_path, digests)
    with pytest.raises(IntegrityError, match="outside the folder"):
        verify_files(tmp_path, {"../elsewhere": "0" * 64})
    with pytest.raises(IntegrityError, match="not a name -> hex mapping"):
        verify_files(tmp_path, ["model.txt"])


def test_a_saved_family_name_never_imports_code() -> None:
    sys.modules.pop("this", None)
    with pytest.raises(RegistryError, match="only registered or installed"):
        get_family("this:s", allow_dotted=False)
    assert "this" not in sys.modules
    assert get_family("ridge", allow_dotted=False).name == "ridge"


@pytest.mark.parametrize(
    ("family", "params", "fragment"),
    [
        ("lightgbm", {"num_leaves": -5}, "num_leaves"),
        ("lightgbm", {"n_estimators": 0}, "n_estimators"),
        ("ridge", {"alpha": -1.0}, "alpha"),
        ("random_forest", {"max_features": "most"}, "max_features"),
        ("xgboost", {"max_depth": -2}, "max_depth"),
    ],
)
def test_library_param_errors_are_user_errors_at_fit_and_in_the_dry_check(
    family: str, params: dict[str, object], fragment: str
) -> None:
    cls = get_family(family)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3)).astype(np.float32)
    y = rng.standard_normal(80)
    with pytest.raises(ModelParamsError, match=fragment) as fitted:
        cls("regression", params).fit(X, y)
    assert isinstance(fitted.value, UserError) and isinstance(fitted.value, ModelError)
    assert f"family_params.{family}" in str(fitted.value)
    with pytest.raises(ModelParamsError, match=fragment):
        cls.check_params("regression", params)


def test_good_params_pass_the_dry_check() -> None:
    for family in ("lightgbm", "ridge", "hist_gb"):
        get_family(family).check_params("regression", {})
        get_family(family).check_params("binary", {})


def test_lightgbm_refuses_a_truncated_text_model(tmp_path: Path) -> None:
    cls = get_family("lightgbm")
    rng = np.random.default_rng(1)
    model = cls("regression", {"n_estimators": 5}).fit(
        rng.standard_normal((200, 3)).astype(np.float32), rng.standard_normal(200)
    )
    model.save(tmp_path)
    text = (tmp_path / "model.txt").read_text()
    (tmp_path / "model.txt").write_text(text[: len(text) // 3])
    with pytest.raises(ModelError, match="not a complete LightGBM text model"):
        cls.load(tmp_path)
    assert json.loads((tmp_path / "family.json").read_text())["family"] == "lightgbm"


def _per_symbol_bundle() -> ModelBundle:
    rng = np.random.default_rng(2)
    ridge = get_family("ridge")
    models = {
        symbol: ridge("regression", {}).fit(
            rng.standard_normal((40, 2)).astype(np.float32), rng.standard_normal(40)
        )
        for symbol in ("AAA", "B/B")
    }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "target": "fwd_ret_1",
        "family": "ridge",
        "features": ["f1", "f2"],
        "scope": "per_symbol",
        "symbols": {symbol: safe_name(symbol) for symbol in models},
    }
    return ModelBundle(meta=meta, by_symbol=models)


def test_per_symbol_models_are_sealed_and_verified(tmp_path: Path) -> None:
    folder = write_bundle(_per_symbol_bundle(), tmp_path)
    loaded = read_bundle(folder)
    assert sorted(loaded.by_symbol) == ["AAA", "B/B"]
    recorded = json.loads((folder / "meta.json").read_text())["files"]
    assert {"AAA/coefficients.json", "AAA/meta.json"} <= set(recorded)
    sub = folder / safe_name("B/B") / "coefficients.json"
    sub.write_text(sub.read_text().replace("]", " ]", 1))
    with pytest.raises(PredictError, match=r"coefficients\.json differs"):
        read_bundle(folder)

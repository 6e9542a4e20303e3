"""Damaged, foreign and unfinished run folders through ``panelml predict`` and
``panelml report``: each is one ``error:`` line with exit 2.

Before: a truncated ``model.txt`` crashed the process (exit 139, LightGBM's
"Model format error"); other damaged files gave tracebacks (exit 1);
``"family": "this:s"`` in ``meta.json`` imported a module (printing the Zen of
Python); unfinished runs and ``format_version: 99`` were used silently.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from inputs_helpers import assert_one_error, base_config, base_frame, write_case
from typer.testing import CliRunner

from panelml import api
from panelml.cli import app
from panelml.models.integrity import file_digests, sealed_text

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"
MODEL = Path("models") / "fwd_ret_5"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished training run (lightgbm, ridge, random_forest) and the data it saw."""
    folder = tmp_path_factory.mktemp("trained")
    config = base_config(
        pipeline={"stages": ["training"]},
        training={
            "targets": ["fwd_ret_5"],
            "families": ["lightgbm", "ridge", "random_forest"],
            "family_params": {
                "lightgbm": {"n_estimators": 20},
                "random_forest": {"n_estimators": 5},
            },
        },
    )
    path = write_case(folder, config=config)
    result = api.run(path, quiet=True, run_id="good")
    return result.run_dir


@pytest.fixture
def run_copy(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run folder, with the data beside it."""
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    shutil.copy(trained.parents[2] / "panel.parquet", tmp_path / "panel.parquet")
    return copy


def _reseal(meta: Path, **changes: Any) -> None:
    """Rewrite ``meta.json`` with ``changes`` and fresh digests, as a tool that knows
    the format would: the record is self-consistent, only its content is wrong."""
    record = json.loads(meta.read_text(encoding="utf-8"))
    record.update(changes)
    record["files"] = file_digests(meta.parent, skip="meta.json")
    meta.write_text(sealed_text(record), encoding="utf-8")


def _meta(run: Path, family: str) -> Path:
    return run / MODEL / family / "meta.json"


def _truncate(run: Path) -> None:
    path = run / MODEL / "lightgbm" / "model.txt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncate_unsealed(run: Path) -> None:
    """A truncated model whose digests were updated too: LightGBM must still not see it."""
    _truncate(run)
    _reseal(_meta(run, "lightgbm"))


def _delete(relative: str) -> Callable[[Path], None]:
    return lambda run: (run / MODEL / relative).unlink()


def _edit_coefficients(run: Path) -> None:
    path = run / MODEL / "ridge" / "coefficients.json"
    path.write_text(path.read_text().replace("0", "1", 1))


def _append_byte(relative: str) -> Callable[[Path], None]:
    def change(run: Path) -> None:
        with (run / MODEL / relative).open("ab") as handle:
            handle.write(b"\0")

    return change


def _drop_feature(run: Path) -> None:
    meta = _meta(run, "ridge")
    record = json.loads(meta.read_text())
    record["features"] = record["features"][:-1]
    meta.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def _drop_feature_resealed(run: Path) -> None:
    meta = _meta(run, "lightgbm")
    _reseal(meta, features=json.loads(meta.read_text())["features"][:-1])


def _family(name: str) -> Callable[[Path], None]:
    return lambda run: _reseal(_meta(run, "ridge"), family=name)


def _meta_field(**changes: Any) -> Callable[[Path], None]:
    return lambda run: _reseal(_meta(run, "ridge"), **changes)


def _meta_not_json(run: Path) -> None:
    _meta(run, "ridge").write_text("{not json", encoding="utf-8")


def _files_outside(run: Path) -> None:
    meta = _meta(run, "ridge")
    record = json.loads(meta.read_text())
    record["files"] = {**record["files"], "../../../config.yaml": "0" * 64}
    meta.write_text(sealed_text(record), encoding="utf-8")


def _untrusted_skops(run: Path) -> None:
    import numpy as np
    import skops.io
    from sklearn.ensemble import RandomForestRegressor

    folder = run / MODEL / "random_forest"
    model = RandomForestRegressor(n_estimators=2).fit(np.zeros((8, 4)), np.arange(8.0))
    model.extra = __import__("fractions").Fraction(1, 3)
    skops.io.dump(model, str(folder / "model.skops"))
    _reseal(folder / "meta.json")


def _status(status: str, **extra: Any) -> Callable[[Path], None]:
    def change(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        manifest.update(status=status, **extra)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return change


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _running_dead(run: Path) -> None:
    import socket

    identity = {"pid": _dead_pid(), "host": socket.gethostname(), "start_ticks": 1}
    _status("running", process=identity)(run)


def _no_manifest(run: Path) -> None:
    (run / "manifest.json").unlink()


MODEL_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated-model-txt": (_truncate, ("model.txt", "sha256")),
    "truncated-model-resealed": (_truncate_unsealed, ("lightgbm", "truncated")),
    "missing-model-txt": (_delete("lightgbm/model.txt"), ("model.txt", "missing")),
    "missing-family-json": (_delete("ridge/family.json"), ("family.json", "missing")),
    "missing-skops": (_delete("random_forest/model.skops"), ("model.skops", "missing")),
    "edited-coefficients": (_edit_coefficients, ("coefficients.json", "differs")),
    "extra-byte-in-skops": (_append_byte("random_forest/model.skops"), ("model.skops",)),
    "meta-features-edited": (_drop_feature, ("meta.json", "modified")),
    "meta-features-mismatch": (_drop_feature_resealed, ("features", "takes 4")),
    "meta-family-dotted": (_family("this:s"), ("unknown model family 'this:s'",)),
    "meta-family-module": (_family("evil_family:Family"), ("evil_family:Family",)),
    "meta-family-unknown": (_family("ridgee"), ("did you mean 'ridge'",)),
    "meta-format-version-99": (_meta_field(format_version=99), ("format_version 99", "upgrade")),
    "meta-format-version-text": (_meta_field(format_version="2"), ("format_version",)),
    "meta-newer-panelml": (
        _meta_field(versions={"panelml": "9.9.9"}),
        ("panelml 9.9.9", "upgrade panelml"),
    ),
    "meta-not-json": (_meta_not_json, ("not valid JSON",)),
    "meta-file-outside": (_files_outside, ("outside the folder",)),
    "skops-untrusted-type": (_untrusted_skops, ("fractions.Fraction", "trust")),
    "run-failed": (_status("failed"), ("is failed", "--allow-incomplete")),
    "run-interrupted": (_status("interrupted"), ("is interrupted", "--allow-incomplete")),
    "run-running-process-gone": (_running_dead, ("interrupted", "--allow-incomplete")),
    "run-without-manifest": (_no_manifest, ("manifest.json", "--allow-incomplete")),
}


def _predict(run: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", str(run), "--data", str(data), "--out", str(out), *extra]


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_predict_refuses_a_damaged_or_foreign_run(
    case: str, run_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    change, fragments = MODEL_CASES[case]
    (tmp_path / "evil_family.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    change(run_copy)
    before = set(sys.modules)
    out = tmp_path / "out" / "scores.parquet"
    result = runner.invoke(app, _predict(run_copy, tmp_path / "panel.parquet", out))
    assert_one_error(result, tmp_path / "out", *fragments)
    assert not out.exists()
    assert not {"this", "evil_family"} & (set(sys.modules) - before)
    assert "Beautiful is better" not in result.stdout


REPORT_CASES = ["run-failed", "run-interrupted", "run-running-process-gone"]


@pytest.mark.parametrize("case", REPORT_CASES)
def test_report_refuses_an_unfinished_run(case: str, run_copy: Path, tmp_path: Path) -> None:
    change, fragments = MODEL_CASES[case]
    change(run_copy)
    out = tmp_path / "out" / "report.html"
    result = runner.invoke(app, ["report", str(run_copy), "--out", str(out)])
    assert_one_error(result, tmp_path / "out", *fragments)
    assert not out.exists()


def test_allow_incomplete_uses_an_unfinished_run(run_copy: Path, tmp_path: Path) -> None:
    _status("failed")(run_copy)
    out = tmp_path / "scores.parquet"
    data = tmp_path / "panel.parquet"
    result = runner.invoke(app, _predict(run_copy, data, out, "--allow-incomplete"))
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == base_frame().height
    report = runner.invoke(
        app, ["report", str(run_copy), "--out", str(tmp_path / "r.html"), "--allow-incomplete"]
    )
    assert report.exit_code == 0, report.output


def _semicolons(folder: Path) -> Path:
    path = folder / "new.csv"
    path.write_text(base_frame().head(40).write_csv(separator=";"))
    return path


def _parquet_as_csv(folder: Path) -> Path:
    path = folder / "new.csv"
    base_frame().write_parquet(path)
    return path


def _lacking_feature(folder: Path) -> Path:
    path = folder / "new.parquet"
    base_frame().drop("feat_2").write_parquet(path)
    return path


def _text_feature(folder: Path) -> Path:
    path = folder / "new.parquet"
    base_frame().with_columns(pl.col("feat_1").cast(pl.String)).write_parquet(path)
    return path


DATA_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "data-missing": (lambda folder: folder / "nothing.parquet", ("does not exist", "--data")),
    "data-semicolons": (_semicolons, ("separated by ';'", "--data")),
    "data-parquet-as-csv": (_parquet_as_csv, ("parquet magic bytes",)),
    "data-lacking-feature": (_lacking_feature, ("lacks feature 'feat_2'",)),
    "data-text-feature": (_text_feature, ("'feat_1'", "convert it to numbers")),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_predict_names_the_problem_with_data(case: str, trained: Path, tmp_path: Path) -> None:
    make, fragments = DATA_CASES[case]
    out = tmp_path / "out" / "scores.parquet"
    result = runner.invoke(app, _predict(trained, make(tmp_path), out))
    line = assert_one_error(result, tmp_path, *fragments)
    assert "data.path" not in line


def test_predict_warns_about_values_it_scores_as_missing(trained: Path, tmp_path: Path) -> None:
    data = tmp_path / "new.parquet"
    row = pl.int_range(pl.len())
    base_frame().with_columns(
        pl.when(row < 2).then(float("inf")).otherwise(pl.col("feat_0")).alias("feat_0"),
        pl.when(row < 3).then(1e300).otherwise(pl.col("feat_1")).alias("feat_1"),
    ).write_parquet(data)
    result = runner.invoke(app, _predict(trained, data, tmp_path / "s.parquet"))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: data: 2 infinite value(s) in 'feat_0' scored as missing",
        "warning: data: 3 value(s) in 'feat_1' exceed float32's range (|x| > 3.4e38) and were "
        "scored as missing",
    ]


@pytest.mark.parametrize("what", ["missing", "file"])
def test_predict_and_report_on_a_missing_run_folder(what: str, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "x" / "nope"
    if what == "file":
        run.parent.mkdir(parents=True)
        run.write_text("not a folder")
    out = tmp_path / "scores.parquet"
    result = runner.invoke(app, _predict(run, tmp_path / "panel.parquet", out))
    expected = "does not exist" if what == "missing" else "not a folder"
    line = assert_one_error(result, tmp_path, expected)
    assert "models/" not in line
    report = runner.invoke(app, ["report", str(run)])
    assert report.exit_code == 2 and len(report.stderr.strip().splitlines()) == 1


FLIP_SEEDS = range(24)


@pytest.mark.parametrize("seed", FLIP_SEEDS)
def test_any_flipped_byte_in_a_model_folder_is_detected(
    seed: int, run_copy: Path, tmp_path: Path
) -> None:
    """Property: XOR one to three random bytes of a random file under models/
    (native models, family.json, meta.json) with a random non-zero mask; predict
    must refuse with one line. A check that read only some files, or parsed
    meta.json without its digest, misses about a third of these flips."""
    rng = random.Random(seed)
    files = sorted(p for p in (run_copy / "models").rglob("*") if p.is_file())
    target = rng.choice(files)
    data = bytearray(target.read_bytes())
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    target.write_bytes(bytes(data))
    out = tmp_path / "out" / "scores.parquet"
    result = runner.invoke(app, _predict(run_copy, tmp_path / "panel.parquet", out))
    assert_one_error(result, tmp_path / "out", target.name)


def test_a_truncated_model_never_reaches_lightgbm_in_a_real_process(
    run_copy: Path, tmp_path: Path
) -> None:
    """The finding: exit 139 (segfault) in a real process. Here even the digests were
    updated to match the truncated file, so only the structural check stands between
    it and LightGBM: one line and exit 2."""
    _truncate_unsealed(run_copy)
    out = tmp_path / "scores.parquet"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "panelml", *_predict(run_copy, tmp_path / "panel.parquet", out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "model.txt" in lines[0]


def test_a_bad_lightgbm_param_is_one_line_in_a_real_process(tmp_path: Path) -> None:
    """LightGBM prints its own '[LightGBM] [Fatal]' line on file descriptor 2; the
    dry construction silences it so the user sees one line."""
    config = base_config(training={"family_params": {"lightgbm": {"num_leaves": -5}}})
    path = write_case(tmp_path, config=config)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "panelml", "run", str(path), "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "num_leaves" in lines[0] and "[Fatal]" not in lines[0]
    assert not (tmp_path / "runs").exists()


def test_config_yaml_of_the_trained_run_is_readable(trained: Path) -> None:
    """The fixture is what the cases damage: a finished run that predicts."""
    assert yaml.safe_load((trained / "config.yaml").read_text())["experiment"]["name"] == "bad"
    result = runner.invoke(
        app, _predict(trained, trained.parents[2] / "panel.parquet", trained / "s.parquet")
    )
    assert result.exit_code == 0, result.output

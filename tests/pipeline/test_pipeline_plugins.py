"""Third-party stages and hooks: an installed package's entry points, and dotted paths."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import panelml
from panelml.pipeline import registry

PLUGIN_SRC = Path(__file__).resolve().parents[2] / "examples" / "plugin_package"
PLUGIN_MODULE = "panelml_example_plugin"


def _install(target: Path) -> None:
    """pip-install the example package into ``target``; without network or wheel
    support, fall back to laying out the same files (package + dist-info) by hand."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    for extra in (["--no-build-isolation"], []):
        done = subprocess.run([*base, *extra, str(PLUGIN_SRC)], capture_output=True, check=False)
        if done.returncode == 0:
            return
    import shutil

    project = tomllib.loads((PLUGIN_SRC / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN_SRC / "src" / PLUGIN_MODULE, target / PLUGIN_MODULE)
    dist = target / f"panelml_example_plugin-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value}" for name, value in eps.items())
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example plugin installed into a folder on sys.path for this module's tests."""
    target = tmp_path_factory.mktemp("site")
    _install(target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    sys.modules.pop(PLUGIN_MODULE, None)
    importlib.invalidate_caches()


def test_entry_points_are_listed_without_importing(installed_plugin: Path) -> None:
    sys.modules.pop(PLUGIN_MODULE, None)
    assert "row_count" in registry.stages.names()
    assert "stage_log" in registry.hook_plugins.names()
    assert PLUGIN_MODULE not in sys.modules


def test_yaml_naming_an_entry_point_stage_and_hook_runs_them(
    installed_plugin: Path,
    write_config: Callable[..., Path],
    toy_data: Any,
    tmp_path: Path,
) -> None:
    log = tmp_path / "stages.log"
    config = write_config(
        {
            "experiment": {"name": "plugin"},
            "data": {"path": "panel.parquet"},
            "pipeline": {"stages": ["row_count"]},
            "row_count": {"label": "n"},
            "hooks": [{"name": "stage_log", "params": {"path": str(log)}}],
            "runtime": {"quiet": True},
        }
    )
    result = panelml.run(config)
    assert result.manifest["status"] == "finished"
    assert json.loads((result.run_dir / "row_count" / "result.json").read_text()) == {"n": 10}
    assert log.read_text().splitlines() == ["row_count ran", "pipeline finished"]
    assert result.run_dir.parent.parent == tmp_path / "runs"


def test_plugin_stage_params_are_validated_by_its_own_model(
    installed_plugin: Path, write_config: Callable[..., Path], toy_data: Any
) -> None:
    config = write_config(
        {
            "experiment": {"name": "plugin"},
            "data": {"path": "panel.parquet"},
            "pipeline": {"stages": ["row_count"]},
            "row_count": {"lable": "n"},
        }
    )
    with pytest.raises(panelml.ConfigError, match=r"row_count\.lable: unknown key"):
        panelml.load_config(config)


def test_yaml_naming_a_stage_by_dotted_path_runs_it(
    write_config: Callable[..., Path],
    toy_data: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = tmp_path / "my_local_stages.py"
    module.write_text(
        "from panelml.pipeline.results import JsonResult\n"
        "from panelml.pipeline.stage import Stage, StageParams\n\n"
        "class Params(StageParams):\n"
        "    factor: int = 1\n\n"
        "class Doubler(Stage[Params]):\n"
        "    name = 'doubler'\n"
        "    Params = Params\n"
        "    result_type = JsonResult\n\n"
        "    def run(self, ctx):\n"
        "        return JsonResult({'value': len(ctx.data) * self.params.factor})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = write_config(
        {
            "experiment": {"name": "dotted"},
            "data": {"path": "panel.parquet"},
            "pipeline": {"stages": ["my_local_stages:Doubler"]},
            "doubler": {"factor": 3},
            "runtime": {"quiet": True},
        }
    )
    result = panelml.run(config)
    assert result.results["doubler"]["value"] == 30
    assert [s["name"] for s in result.manifest["stages"]] == ["doubler"]

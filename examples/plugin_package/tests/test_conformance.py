"""The plugin's stage passes panelml's stage conformance kit.

Run with ``pytest`` after ``pip install ./examples/plugin_package``.
"""

from __future__ import annotations

from pathlib import Path

from panelml_example_plugin import RowCountStage

from panelml.testing import check_stage, stage_context


def test_row_count_passes_the_stage_kit(tmp_path: Path) -> None:
    ctx = stage_context(list(range(123)), tmp_path)
    result = check_stage(RowCountStage, {"label": "n"}, ctx, tmp_path)
    assert (
        result.fingerprint()
        == check_stage(RowCountStage, {"label": "n"}, ctx, tmp_path / "b").fingerprint()
    )

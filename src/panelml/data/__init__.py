"""panelml.data: panel data in memory (Panel), loading and checking it, and
synthetic panels with planted ground truth."""

from __future__ import annotations

from panelml.data.errors import DataError
from panelml.data.frames import panel_from_frame
from panelml.data.loaders import load_panel
from panelml.data.panel import DataReport, Panel, TargetKind
from panelml.data.spec import DataConfig
from panelml.data.synthetic import (
    GroundTruth,
    PlantedLeak,
    PlantedTarget,
    SyntheticPanel,
    TargetSpec,
    make_panel,
    write_demo_data,
)

__all__ = [
    "DataConfig",
    "DataError",
    "DataReport",
    "GroundTruth",
    "Panel",
    "PlantedLeak",
    "PlantedTarget",
    "SyntheticPanel",
    "TargetKind",
    "TargetSpec",
    "load_panel",
    "make_panel",
    "panel_from_frame",
    "write_demo_data",
]

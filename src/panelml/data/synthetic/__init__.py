"""Synthetic panels with planted ground truth: the demo data and the test bed
for every later stage. See :mod:`panelml.data.synthetic.generate` for the design."""

from __future__ import annotations

from panelml.data.synthetic.design import DEFAULT_TARGETS, TargetSpec
from panelml.data.synthetic.generate import SyntheticPanel, make_panel, write_demo_data
from panelml.data.synthetic.hard import make_hard_panel
from panelml.data.synthetic.truth import GroundTruth, PlantedLeak, PlantedTarget, PlantedTerm

__all__ = [
    "DEFAULT_TARGETS",
    "GroundTruth",
    "PlantedLeak",
    "PlantedTarget",
    "PlantedTerm",
    "SyntheticPanel",
    "TargetSpec",
    "make_hard_panel",
    "make_panel",
    "write_demo_data",
]

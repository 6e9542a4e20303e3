"""The ``report`` stage: one self-contained report.html for the run.

``stage`` holds the stage, its params, its result and the facts it records;
the rendering lives in :mod:`panelml.report`. Other modules import the public
names from this package.
"""

from panelml.stages.report.stage import ReportParams, ReportResult, ReportStage, config_data

__all__ = ["ReportParams", "ReportResult", "ReportStage", "config_data"]

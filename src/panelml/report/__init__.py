"""HTML report rendering: one self-contained ``report.html`` per run.

The page is built from plain strings (:mod:`~panelml.report.html`), inline CSS
(:mod:`~panelml.report.style`) and inline SVG charts (:mod:`~panelml.report.svg`);
it loads nothing from the network. :func:`render_report` turns
:class:`ReportInputs` into the page; :func:`fill_run_record` adds one run's
timings and cache hits when the page is published into that run's folder.
"""

from panelml.report.document import SECTIONS, render_report
from panelml.report.inputs import REPORTED_STAGES, ReportInputs
from panelml.report.run_folder import (
    RunFolder,
    RunFolderError,
    load_run_folder,
)
from panelml.report.run_record import fill_run_record, read_run_record

__all__ = [
    "REPORTED_STAGES",
    "SECTIONS",
    "ReportInputs",
    "RunFolder",
    "RunFolderError",
    "fill_run_record",
    "load_run_folder",
    "read_run_record",
    "render_report",
]

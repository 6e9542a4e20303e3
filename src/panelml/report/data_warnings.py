"""The data warnings block at the top of the report.

What loading did to the data (dropped, skipped or converted columns, NaN and
infinity counts, overflow, mixed time-zone offsets, default horizons) is shown
before any result, because every number below depends on it. The same lines
are printed on stderr when the run starts and recorded in ``manifest.json``
(``data_warnings``).
"""

from __future__ import annotations

from panelml.report.html import Markup, tag
from panelml.report.inputs import ReportInputs


def data_warnings_block(inputs: ReportInputs) -> Markup:
    """A highlighted list of the data warnings; when there are none, one quiet line
    saying so (if the data's facts are known at all), so their absence is visible."""
    if not inputs.data_warnings:
        if inputs.data_shape:
            return tag("p", "Loading the data raised no warnings.", class_="clean")
        return Markup("")
    items = [tag("li", str(text)) for text in inputs.data_warnings]
    return tag(
        "section",
        tag("h2", f"Data warnings ({len(items)})"),
        tag("p", "What loading did to the data; every result below is computed after it."),
        tag("ul", items),
        id="data-warnings",
    )

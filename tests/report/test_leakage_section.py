"""The report's leakage section: proof and suspicion apart, with evidence numbers."""

from __future__ import annotations

import polars as pl
from report_fakes import section_html

from panelml.pipeline.results import TableResult
from panelml.report import ReportInputs, render_report


def _screen() -> TableResult:
    frame = pl.DataFrame(
        {
            "feature": ["copy_x", "vol_20", "copy_x"],
            "target": ["fwd_vol_5", "fwd_vol_5", "fwd_ret_1"],
            "check": ["shifted_copy", "too_good", "shifted_copy (via fwd_vol_5)"],
            "grade": ["proof", "suspicion", "proof"],
            "value": [0.99, 0.62, 0.99],
            "threshold": [0.95, 0.3, 0.95],
            "action": ["removed", "warned", "removed"],
            "evidence": [
                "rank IC 0.990 with the target shifted to y[t-2]",
                "rank IC 0.620 above 0.3",
                "rank IC 0.990 with the target shifted to y[t-2]",
            ],
        }
    )
    return TableResult({"report": frame}, {"policy": "balanced"})


def test_proof_and_suspicion_are_shown_apart_with_evidence() -> None:
    inputs = ReportInputs(results={"leakage_screen": _screen()}, pipeline=["leakage_screen"])
    html = section_html(render_report(inputs), "leakage")
    assert "Policy: balanced" in html and "(2 proof, 1 suspicion)" in html
    vol = html[html.index("<h3>fwd_vol_5</h3>") :]
    assert vol.index("<h4>Proof</h4>") < vol.index("<h4>Suspicion (one heuristic)</h4>")
    assert "shifted to y[t-2]" in vol and "rank IC 0.620 above 0.3" in vol
    ret = html[html.index("<h3>fwd_ret_1</h3>") : html.index("<h3>fwd_vol_5</h3>")]
    assert "<h4>" not in ret  # only a removal on proof found for another target
    assert "copy_x (shifted_copy (via fwd_vol_5))" in ret

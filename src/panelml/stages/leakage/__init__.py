"""The ``leakage_screen`` stage: which features must a model never see for a target?

``stage`` holds the stage, its params and its result; the private modules hold
the checks (``_screen``, ``_timing``), the rank-once IC engine they share
(``_ranks``, with its per-block rank store ``_rank_grid``), the evidence
grades and the policy (``_evidence``), the per-check settings (``_params``)
and the run summary (``_summary``). Other modules import the public names from this package.
"""

from panelml.stages.leakage._params import LeakageScreenParams
from panelml.stages.leakage._screen import screen_panel
from panelml.stages.leakage.stage import CHECKS, LeakageScreenResult, LeakageScreenStage

__all__ = [
    "CHECKS",
    "LeakageScreenParams",
    "LeakageScreenResult",
    "LeakageScreenStage",
    "screen_panel",
]

"""The ``target_ranking`` stage: which targets carry out-of-sample skill?

``stage`` holds the stage and its result; ``_settings`` the params, the fast
family defaults and their resolution on a run; ``_fit`` the cross-validated
fits, ``_scores`` the per-target score, ``_suspects`` the suspect-leak rule and
``_tables`` the output tables and statuses. Other modules import the public
names from this package.
"""

from panelml.stages.ranking._settings import (
    RANKING_FAMILY_DEFAULTS,
    RankingError,
    TargetRankingParams,
)
from panelml.stages.ranking.stage import TargetRankingResult, TargetRankingStage

__all__ = [
    "RANKING_FAMILY_DEFAULTS",
    "RankingError",
    "TargetRankingParams",
    "TargetRankingResult",
    "TargetRankingStage",
]

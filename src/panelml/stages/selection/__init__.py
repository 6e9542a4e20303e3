"""The ``feature_selection`` stage: which features does each selected target need?

``stage`` holds the stage and its result; ``_params`` the params and importance
judgements; ``_runner`` the per-target selection; ``_importance``,
``_interactions`` and ``_consensus`` the importances, the pairwise interaction
score and the shadow-calibrated vote; ``_rank_block`` the ranks the model-free
kinds read. Other modules import the public names
from this package.
"""

from panelml.stages.selection._params import (
    FeatureSelectionError,
    FeatureSelectionParams,
    ImportanceSpec,
)
from panelml.stages.selection.stage import FeatureSelectionResult, FeatureSelectionStage

__all__ = [
    "FeatureSelectionError",
    "FeatureSelectionParams",
    "FeatureSelectionResult",
    "FeatureSelectionStage",
    "ImportanceSpec",
]

"""The ``stability`` stage: do the selections and models hold across runs and folds?

``stage`` holds the stage, its params and its result; the measures and the run
history live in :mod:`panelml.stability`. Other modules import the public
names from this package.
"""

from panelml.stages.stability.stage import StabilityParams, StabilityResult, StabilityStage

__all__ = ["StabilityParams", "StabilityResult", "StabilityStage"]

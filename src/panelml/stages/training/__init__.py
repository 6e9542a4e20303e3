"""The ``training`` stage: cross-validated models, out-of-fold metrics, saved bundles.

``stage`` holds the stage; ``_params`` its params; ``_fit`` the per-unit fits;
``_scoring`` and ``_metrics`` the out-of-fold metrics; ``_result`` the result,
its tables and the ensemble. Other modules import the public names from this
package.
"""

from panelml.stages.training._fit import TrainingError
from panelml.stages.training._params import TrainingParams
from panelml.stages.training._result import TrainingResult
from panelml.stages.training.stage import TrainingStage

__all__ = ["TrainingError", "TrainingParams", "TrainingResult", "TrainingStage"]

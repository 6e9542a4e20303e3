"""Model families behind one interface (see :mod:`panelml.models.base`).

Importing this package is cheap: the built-in family modules are imported by
:func:`get_family` / :func:`available_families` on first use, and each imports
its library (LightGBM, XGBoost, scikit-learn) only when a model is used.
"""

from panelml.models.base import ModelError, ModelFamily, PreparedData, Task
from panelml.models.registry import available_families, get_family, models, register_model

__all__ = [
    "ModelError",
    "ModelFamily",
    "PreparedData",
    "Task",
    "available_families",
    "get_family",
    "models",
    "register_model",
]

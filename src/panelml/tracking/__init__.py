"""Experiment tracking: built-in hook plugins that send a run to a tracking server.

Importing this package registers the built-in ``mlflow`` hook plugin
(:class:`~panelml.tracking.mlflow_hook.MlflowTracking`) through the public hook
registry, exactly as a third-party plugin registers. MLflow itself is imported
only when a run that uses the hook ends, so the package costs nothing otherwise.
"""

from __future__ import annotations

from panelml.tracking.mlflow_hook import HOOK_NAME, MlflowTracking
from panelml.tracking.records import flatten_params, run_metrics

__all__ = ["HOOK_NAME", "MlflowTracking", "flatten_params", "run_metrics"]

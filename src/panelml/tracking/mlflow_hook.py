"""The built-in ``mlflow`` hook plugin: one MLflow run per panelml run.

Enable it in the experiment YAML::

    hooks:
      - name: mlflow
        tracking_uri: sqlite:///mlflow.db     # default: MLflow's own (MLFLOW_TRACKING_URI)
        experiment_name: my-experiment        # default: the panelml experiment name

(``params: {tracking_uri: ...}`` works too.) When the run ends, finished or not,
it creates an MLflow run named after the panelml run id and logs

* params: the resolved config, flattened (``data.targets``,
  ``pipeline.stages.training.params.families``, ...);
* metrics: stage timings, per-target ranking scores and the training stage's
  out-of-fold summary metrics (:func:`panelml.tracking.records.run_metrics`);
* artifacts: ``report.html``, ``config.yaml``, ``manifest.json``,
  ``target_ranking/ranking.parquet`` and every saved model folder;
* tags: ``panelml.run_id``, ``panelml.config_hash``, ``panelml.data_fingerprint``,
  ``panelml.experiment``, ``panelml.status``;

and ends the MLflow run as ``FINISHED`` or ``FAILED`` like the panelml run.

MLflow is imported only then (``pip install 'panelml[mlflow]'``, the
``mlflow-skinny`` client); a config naming the hook without MLflow installed is
an error when the config is loaded. MLflow 3 refuses a plain-folder store
(``file:./mlruns``) unless ``MLFLOW_ALLOW_FILE_STORE=true`` is set; a
``sqlite:///`` URI needs no setting.

A failure here (server down, bad URI) is isolated like any hook's: a warning,
and the run goes on and keeps its status (unless ``runtime.strict_hooks``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from panelml.pipeline.errors import UserError
from panelml.pipeline.events import PipelineFinished
from panelml.pipeline.hooks import Hooks
from panelml.pipeline.registry import register_hook
from panelml.tracking.records import flatten_params, run_artifacts, run_metrics, run_tags

__all__ = ["HOOK_NAME", "MlflowTracking"]

HOOK_NAME = "mlflow"
_BATCH = 100  # MLflow accepts at most 100 params (and 1000 metrics) per log_batch


def _require_mlflow() -> None:
    if importlib.util.find_spec("mlflow") is None:
        raise UserError(
            "hooks: mlflow: the mlflow hook needs MLflow, which is not installed; "
            "install it with pip install 'panelml[mlflow]' or remove the hook"
        )


@register_hook
class MlflowTracking(Hooks):
    """Logs each run to MLflow (see the module docstring).

    Args:
        tracking_uri: where MLflow writes (``sqlite:///mlflow.db``, ``http://host:5000``,
            ``file:/abs/mlruns``); ``None`` uses MLflow's default.
        experiment_name: the MLflow experiment; default: the panelml experiment name.
        log_models: upload the saved model folders (they can be large).
        tags: extra tags for every MLflow run.
    """

    name = HOOK_NAME
    priority = -10  # after the other plugins: it reports on what they left

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        log_models: bool = True,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        _require_mlflow()
        for label, value in (("tracking_uri", tracking_uri), ("experiment_name", experiment_name)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{label} must be a string, got {value!r}")
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.log_models = bool(log_models)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.last_run_id: str | None = None
        """The MLflow run id of the last run logged (for scripts and tests)."""

    def after_pipeline(self, event: PipelineFinished) -> None:
        """Log the finished (or failed) run; see the module docstring."""
        ctx = event.context
        if ctx is None:
            return
        from panelml.pipeline.runstate import read_manifest

        manifest = read_manifest(ctx.run_dir) or {}
        resolved = getattr(ctx.config, "resolved_dict", None)
        config = resolved() if callable(resolved) else {}
        self.last_run_id = self.log_run(
            experiment=self.experiment_name or ctx.experiment,
            run_name=ctx.run_id,
            params=flatten_params(config),
            metrics=run_metrics(manifest, ctx.results),
            tags={**run_tags(manifest), **self.tags},
            artifacts=[
                (path, where)
                for path, where in run_artifacts(ctx.run_dir)
                if self.log_models or not path.is_dir()
            ],
            failed=event.status != "finished",
        )

    def log_run(
        self,
        *,
        experiment: str,
        run_name: str,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        artifacts: Sequence[tuple[Path, str]],
        failed: bool,
    ) -> str:
        """Create one MLflow run holding all of it; its MLflow run id."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else None
        if experiment_id is None:
            experiment_id = client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        run_id = str(run.info.run_id)
        try:
            for chunk in _chunks(sorted(params.items()), _BATCH):
                client.log_batch(run_id, params=[Param(k, v) for k, v in chunk])
            stamp = int(run.info.start_time or 0)
            for chunk in _chunks(sorted(metrics.items()), 10 * _BATCH):
                client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in chunk])
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            for path, where in artifacts:
                if path.is_dir():
                    client.log_artifacts(run_id, str(path), where or None)
                else:
                    client.log_artifact(run_id, str(path), where or None)
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")
        return run_id


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

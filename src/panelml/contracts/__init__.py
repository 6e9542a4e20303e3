"""The output contract: what each built-in result kind holds and how to read it.

``panelml.contracts`` sits below the stages, the report, ``stability`` and
``predict`` and above the engine (``panelml.pipeline``). It holds

* the contract kind names (:mod:`~panelml.contracts.kinds`) that results
  ``provide`` and stages declare as ``inputs()``;
* one schema per result table and the checker results' ``contract_problems``
  use (:mod:`~panelml.contracts.schemas`);
* one reader per question (:mod:`~panelml.contracts.readers`), working on any
  result whose tables follow the schema, built-in or third-party;
* :func:`resolve_targets`, the one meaning of a stage's ``targets:`` globs.
"""

from panelml.contracts.kinds import (
    ALL_KINDS,
    EXCLUSIONS,
    FEATURE_CHOICE,
    OOF_PREDICTIONS,
    RANKING_SCORES,
    STABILITY_REPORT,
    TARGET_CHOICE,
    TRAINED_MODELS,
    TRAINING_METRICS,
)
from panelml.contracts.readers import (
    ContractReadError,
    excluded_features,
    exclusion_checks,
    feature_choice_targets,
    findings,
    load_tables,
    oof,
    oof_table_names,
    ranking_scores,
    selected_features,
    selected_targets,
    summary_metrics,
    targets_selected_in,
)
from panelml.contracts.schemas import TableSchema, result_problems, table_problems
from panelml.contracts.targets import TargetPatternError, resolve_targets

__all__ = [
    "ALL_KINDS",
    "EXCLUSIONS",
    "FEATURE_CHOICE",
    "OOF_PREDICTIONS",
    "RANKING_SCORES",
    "STABILITY_REPORT",
    "TARGET_CHOICE",
    "TRAINED_MODELS",
    "TRAINING_METRICS",
    "ContractReadError",
    "TableSchema",
    "TargetPatternError",
    "excluded_features",
    "exclusion_checks",
    "feature_choice_targets",
    "findings",
    "load_tables",
    "oof",
    "oof_table_names",
    "ranking_scores",
    "resolve_targets",
    "result_problems",
    "selected_features",
    "selected_targets",
    "summary_metrics",
    "table_problems",
    "targets_selected_in",
]

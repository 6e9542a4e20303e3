"""``PanelStage``: the base of the stages that fit models on the panel.

``target_ranking``, ``feature_selection`` and ``training`` each fit model
families on purged folds of the panel. What they share is here, done one way:

* **the panel**: ``ctx.data``, which must be a :class:`~panelml.data.panel.Panel`;
* **the validation spec**: the run's ``validation:`` section with the stage's
  own ``scheme`` override (:class:`PanelStageParams`);
* **the families**: each name resolved through the model registry and its
  params merged one way (:func:`panelml.stages.fitting.merge_family_params`:
  the stage's ``family_defaults``, then the user's ``family_params``, then the
  runtime settings the family declares); ``family_params`` for a family the
  stage does not fit is an error;
* **targets**: :meth:`PanelStage.resolve_targets`, the contract's one set of
  glob rules (:func:`panelml.contracts.resolve_targets`), with the stage's
  error class and key;
* **the readers** of the inputs the stages share: the chosen targets
  (``TargetChoice``), the leakage screen's exclusions (``Exclusions``) and the
  selected features (``FeatureChoice``), all through :mod:`panelml.contracts`.

Each stage keeps only its own logic: which targets it uses when ``targets:`` is
not set, what it fits and what it writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from panelml import contracts
from panelml.contracts import TargetPatternError
from panelml.data.panel import Panel
from panelml.models import get_family
from panelml.pipeline.context import RunContext
from panelml.pipeline.errors import UserError
from panelml.pipeline.stage import Stage, StageParams
from panelml.stages.fitting import FamilySpec, merge_family_params
from panelml.validation.spec import ValidationConfig

__all__ = ["FamilySpec", "PanelStage", "PanelStageParams", "ValidationScheme"]

ValidationScheme = Literal["purged_kfold", "walk_forward", "cpcv"]


class PanelStageParams(StageParams):
    """The params every model-fitting stage has (each stage documents its own meaning
    of ``targets`` when it is not set)."""

    targets: list[str] | None = Field(None, description="target names or globs")
    family_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="family name -> params passed to that family"
    )
    scheme: ValidationScheme | None = Field(
        None, description="overrides validation.scheme for this stage"
    )


P = TypeVar("P", bound=PanelStageParams)


class PanelStage(Stage[P]):
    """A stage that fits model families on the panel (module docstring).

    Class attributes a subclass may set besides the :class:`Stage` ones:
        error: the stage's :class:`UserError` subclass; every user error the
            base raises has this type, so a stage's errors are one type.
        family_defaults: per family name, the stage's defaults under the
            user's ``family_params`` (the ranking's fast settings).
    """

    config_sections: ClassVar[tuple[str, ...]] = ("validation",)
    error: ClassVar[type[UserError]] = UserError
    family_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    # -- the panel and its folds -------------------------------------------------------
    def panel(self, ctx: RunContext) -> Panel:
        """The run's data, which a model-fitting stage needs as a Panel."""
        data = ctx.data
        if not isinstance(data, Panel):
            raise self.error(
                f"{self.name} needs a panelml Panel as data, got {type(data).__name__}; "
                "load the data through the data: section"
            )
        return data

    def validation(self, ctx: RunContext) -> ValidationConfig:
        """The run's ``validation:`` section with this stage's ``scheme`` override."""
        found = getattr(ctx.config, "validation", None)
        cfg = found if isinstance(found, ValidationConfig) else ValidationConfig()
        if self.params.scheme is not None and self.params.scheme != cfg.scheme:
            cfg = cfg.model_copy(update={"scheme": self.params.scheme})
        return cfg

    # -- the families ------------------------------------------------------------------
    def family_specs(self, ctx: RunContext, names: Sequence[str], key: str) -> list[FamilySpec]:
        """Each of ``names`` as a :class:`FamilySpec` with its merged params.

        ``key`` is the setting that lists the names (``training.families``), used
        in the errors: an unknown family (with did-you-mean), a family listed
        twice, ``family_params`` for a family the stage does not fit.
        """
        if len(set(names)) != len(names):
            raise self.error(f"{key} lists a family twice; list each once")
        unknown = sorted(set(self.params.family_params) - set(names))
        if unknown:
            raise self.error(
                f"{self.name}.family_params: {unknown[0]!r} is not one of the families "
                f"{self.name} fits ({', '.join(names)}); add it to {key} or remove its params"
            )
        specs = []
        for name in names:
            try:
                cls = get_family(name)
            except UserError as exc:
                raise self.error(f"{key}: {exc}") from None
            params = merge_family_params(
                cls,
                self.params.family_params.get(name, {}),
                defaults=self.family_defaults.get(cls.name),
                n_jobs=ctx.n_jobs,
                deterministic=ctx.deterministic,
            )
            specs.append(FamilySpec(name, cls, params))
        return specs

    # -- targets -----------------------------------------------------------------------
    def resolve_targets(self, panel: Panel, patterns: Sequence[str]) -> list[str]:
        """The panel's targets that ``patterns`` (names or globs) name, in pattern order;
        a pattern that matches nothing is the stage's user error with did-you-mean."""
        try:
            return contracts.resolve_targets(
                patterns, list(panel.target_names), key=f"{self.name}.targets"
            )
        except TargetPatternError as exc:
            raise self.error(str(exc)) from None

    # -- the readers of shared inputs ----------------------------------------------------
    def chosen_targets(self, ctx: RunContext) -> list[str]:
        """The targets the ``TargetChoice`` input chose, best first (none without it)."""
        return contracts.selected_targets(ctx.input(contracts.TARGET_CHOICE))

    def excluded_features(self, ctx: RunContext, target: str) -> set[str]:
        """Features the ``Exclusions`` input removed for ``target`` (none without it)."""
        return contracts.excluded_features(ctx.input(contracts.EXCLUSIONS), target)

    def exclusion_checks(self, ctx: RunContext, target: str) -> dict[str, list[str]]:
        """feature -> the checks that removed it for ``target`` (none without the input)."""
        return contracts.exclusion_checks(ctx.input(contracts.EXCLUSIONS), target)

    def feature_choice_targets(self, ctx: RunContext) -> list[str] | None:
        """The targets the ``FeatureChoice`` input covers; ``None`` without the input."""
        choice = ctx.input(contracts.FEATURE_CHOICE)
        return None if choice is None else contracts.feature_choice_targets(choice)

    def selected_features(self, ctx: RunContext, target: str) -> list[str]:
        """The features the ``FeatureChoice`` input selected for ``target``, best first."""
        return contracts.selected_features(ctx.input(contracts.FEATURE_CHOICE), target)

"""Test helpers for panelml plugin authors (needs pytest).

:func:`check_model_family` and :class:`ModelFamilyConformance` prove that a
model family honours the :class:`~panelml.models.ModelFamily` contract;
:func:`check_stage` (with :func:`stage_context`) proves that a pipeline stage
honours the stage contract: strict params, its result's contract, a stable
fingerprint and a save/load round-trip.
"""

from panelml.testing.conformance import (
    ModelFamilyConformance,
    check_model_family,
    make_data,
)
from panelml.testing.stages import check_stage, stage_context

__all__ = [
    "ModelFamilyConformance",
    "check_model_family",
    "check_stage",
    "make_data",
    "stage_context",
]

"""Test helpers for panelml plugin authors (needs pytest).

:func:`check_model_family` and :class:`ModelFamilyConformance` prove that a
model family honours the :class:`~panelml.models.ModelFamily` contract.
"""

from panelml.testing.conformance import (
    ModelFamilyConformance,
    check_model_family,
    make_data,
)

__all__ = ["ModelFamilyConformance", "check_model_family", "make_data"]

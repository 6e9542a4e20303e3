"""Built-in stages, one package each, plus the shared fitting helpers (``fitting``).

Each stage package registers its stage with ``@register_stage``, exactly as a
third-party package would; importing this package imports, and so registers,
them all. No stage package imports another.
"""

from panelml.stages import leakage, ranking, report, selection, stability, training

__all__ = ["leakage", "ranking", "report", "selection", "stability", "training"]

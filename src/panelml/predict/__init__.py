"""Saved models of a run, and scoring new data with them.

::

    models = panelml.load_run("runs/demo/20240101-120000-abc123")
    scores = models.predict(frame)   # polars DataFrame: symbol, timestamp, <target>__<family>

The saved-model layout the training stage writes is :mod:`panelml.models.bundle`'s.

Predictions: one column ``<target>__<family>`` per saved model and
``<target>__ensemble``, the mean of the families' cross-sectional percentile
ranks per timestamp (the training stage's ensemble rule). Rows keep the input
order. A per-symbol model scores only its own symbol; other rows get null.

The ensemble is a *rank*, not a forecast: it orders the symbols of one timestamp.
A timestamp with a single row (one row scored, or one symbol per timestamp) has
nothing to rank against, so its ensemble is 0.5 whatever the models say; scoring
such data warns once (a ``UserWarning``; ``panelml predict`` prints it on stderr).
Use the ``<target>__<family>`` columns there.

Binary targets also get ``<target>__ensemble_proba``: the mean of the families'
predicted probabilities P(y=1) for the row (families whose prediction is missing
are left out). It is a probability on the training label's scale, as calibrated
as the families are; the rank ensemble is not.

Tables may be polars, pandas or pyarrow (:func:`panelml.data.tables.as_polars`).
"""

from panelml.models.bundle import (
    FORMAT,
    FORMAT_VERSION,
    MODELS_DIR,
    ModelBundle,
    read_bundle,
    safe_name,
    write_bundle,
)
from panelml.predict.files import (
    OUTPUT_SUFFIXES,
    frame_warnings,
    output_format,
    read_frame,
    write_frame,
)
from panelml.predict.scoring import (
    ENSEMBLE,
    ENSEMBLE_PROBA,
    PredictError,
    RunModels,
    load_run,
    require_finished,
    single_row_warning,
)

__all__ = [
    "ENSEMBLE",
    "ENSEMBLE_PROBA",
    "FORMAT",
    "FORMAT_VERSION",
    "MODELS_DIR",
    "OUTPUT_SUFFIXES",
    "ModelBundle",
    "PredictError",
    "RunModels",
    "frame_warnings",
    "load_run",
    "output_format",
    "read_bundle",
    "read_frame",
    "require_finished",
    "safe_name",
    "single_row_warning",
    "write_bundle",
    "write_frame",
]

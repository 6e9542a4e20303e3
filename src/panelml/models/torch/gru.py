"""A GRU over each symbol's last ``lookback`` bars (family name ``gru``).

PyTorch is optional (``pip install 'panelml[torch]'``). The family declares
``needs_row_index``: stages give it each row's symbol and timestamp, and each
row's input is the window of its symbol's last ``lookback`` bars up to and
including its own (point-in-time: a window never reaches past the row's time;
windows are followed from index arrays, :mod:`panelml.models.torch.windows`,
never materialised as a ``lookback``-times copy). In training, bars before a
symbol's first are zeros (the fit rows' mean).

Predicting new data (:meth:`GRUFamily.predict_indexed`, used by ``panelml
predict``) needs the history: the data must hold each symbol's ``lookback - 1``
bars before the rows to score. Rows without it get no prediction (NaN), and when
the latest row of a symbol lacks it the call fails with a :class:`UserError`
that says how many bars to pass.

Params: those of ``mlp`` (loss, epochs, patience, learning rate, batches,
device, threads, determinism; :mod:`panelml.models.torch.mlp`) without the
layer list, plus ``lookback`` (bars per window, 10), ``hidden_size`` (32),
``num_layers`` (1) and ``dropout`` (0.0, between GRU layers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from panelml.models.base import FloatArray, ModelParamsError, RowIndex, params_message
from panelml.models.registry import register_model
from panelml.models.torch._family import COMMON_DEFAULTS, TorchFamily, TorchPrepared
from panelml.models.torch.windows import history_bars
from panelml.pipeline.errors import UserError


class HistoryError(UserError):
    """New data lacks the bars a sequence model reads before the rows it scores."""


def _gru_net(torch: Any, n_features: int, hidden: int, layers: int, dropout: float) -> Any:
    class GRUNet(torch.nn.Module):  # type: ignore[misc]
        """GRU over the window, a linear read-out of the last step's state."""

        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(
                n_features,
                hidden,
                num_layers=layers,
                batch_first=True,
                dropout=dropout if layers > 1 else 0.0,
            )
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x: Any) -> Any:
            out, _ = self.gru(x)
            return self.head(out[:, -1, :]).reshape(-1)

    return GRUNet()


@register_model
class GRUFamily(TorchFamily):
    """Sequence model over each symbol's recent bars; see the module docstring."""

    name: ClassVar[str] = "gru"
    reads_history: ClassVar[bool] = True
    default_params: ClassVar[Mapping[str, Any]] = {
        **COMMON_DEFAULTS,
        "lookback": 10,
        "hidden_size": 32,
        "num_layers": 1,
        "dropout": 0.0,
    }

    @property
    def lookback(self) -> int:
        value = self.params.get("lookback")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelParamsError(
                params_message(self.name, ValueError(f"lookback={value!r}, want an integer >= 1"))
            )
        return value

    def _build_net(self, torch: Any, n_features: int) -> Any:
        return _gru_net(
            torch,
            n_features,
            self._int_param("hidden_size", 1),
            self._int_param("num_layers", 1),
            float(self.params["dropout"]),
        )

    def predict_indexed(self, X: FloatArray, index: RowIndex) -> npt.NDArray[np.float64]:
        """Predictions for new data with its rows' symbols and bars; rows without
        ``lookback - 1`` earlier bars of their symbol in ``X`` get NaN, and a
        :class:`HistoryError` is raised when a symbol's latest row lacks them."""
        self._check_predict_input(X)
        data = TorchPrepared(np.ascontiguousarray(X, dtype=np.float32), index)
        prev = data.previous()
        assert prev is not None
        rows = np.arange(X.shape[0], dtype=np.intp)
        bars = history_bars(prev, rows, self.lookback)
        complete = bars >= self.lookback
        latest = np.flatnonzero(np.isin(rows, prev, invert=True))  # no later bar of its symbol
        short = latest[~complete[latest]]
        if short.size:
            worst = short[np.argmin(bars[short])]
            symbol = index.name(int(index.symbols[worst]))
            raise HistoryError(
                f"the gru model reads each symbol's last {self.lookback} bars, but the data holds "
                f"only {int(bars[worst])} bar(s) up to the latest row of {short.size} symbol(s) "
                f"(symbol {symbol}): pass at least {self.lookback} bars "
                "of history per symbol with the rows to score"
            )
        out = np.full(X.shape[0], np.nan)
        if complete.any():
            out[complete] = self.predict_prepared(data, rows[complete])
        return out

"""A tabular multi-layer perceptron on one bar's features (family name ``mlp``).

PyTorch is optional (``pip install 'panelml[torch]'``); the family is always
registered and says how to install torch when it is missing.

Params (YAML ``params:``):

- ``hidden_sizes`` (default ``[64, 32]``): units of each hidden layer;
- ``activation`` (``relu`` default, ``silu``, ``tanh``) and ``dropout`` (0.1);
- ``loss``: ``mse`` (regression default), ``ic`` (minus the mean per-timestamp
  Pearson correlation: predictions are then scores, not in the target's units)
  or, for binary targets, ``bce`` (default);
- ``max_iter`` (maximum epochs, 50) and ``early_stopping_rounds`` (patience in
  epochs, 5, used only with an early-stopping block);
- ``learning_rate`` (Adam, 1e-3), ``weight_decay`` (0), ``batch_timestamps``
  (timestamps per mini-batch, 32);
- ``device``: ``auto`` (default), ``cpu`` or ``cuda`` (:mod:`panelml.models.devices`);
- ``num_threads`` (0: torch's default; the stages set it from ``runtime.n_jobs``)
  and ``deterministic`` (``torch.use_deterministic_algorithms`` during the fit;
  the stages set it from ``runtime.deterministic``).

Training, scaling and saving: :mod:`panelml.models.torch._family`. No built-in
importance (the selection stage's permutation importance applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from panelml.models.base import ModelParamsError
from panelml.models.registry import register_model
from panelml.models.torch._family import COMMON_DEFAULTS, TorchFamily

ACTIVATIONS = {"relu": "ReLU", "silu": "SiLU", "tanh": "Tanh"}


def activation(torch: Any, family: str, name: object) -> Any:
    """A fresh activation module for the ``activation`` param."""
    if name not in ACTIVATIONS:
        raise ModelParamsError(
            f"model family {family!r} got activation {name!r}: set "
            f"family_params.{family}.activation to one of {', '.join(ACTIVATIONS)}"
        )
    return getattr(torch.nn, ACTIVATIONS[str(name)])()


@register_model
class MLPFamily(TorchFamily):
    """Feed-forward net on one bar; see the module docstring for params."""

    name: ClassVar[str] = "mlp"
    default_params: ClassVar[Mapping[str, Any]] = {
        **COMMON_DEFAULTS,
        "hidden_sizes": [64, 32],
        "activation": "relu",
        "dropout": 0.1,
    }

    def _build_net(self, torch: Any, n_features: int) -> Any:
        sizes = self.params["hidden_sizes"]
        if not isinstance(sizes, list | tuple) or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in sizes
        ):
            raise ModelParamsError(
                f"model family 'mlp' got hidden_sizes {sizes!r}: set "
                "family_params.mlp.hidden_sizes "
                "to a list of positive integers such as [64, 32]"
            )
        layers: list[Any] = [torch.nn.Flatten()]
        width = n_features
        for size in sizes:
            layers += [
                torch.nn.Linear(width, size),
                activation(torch, self.name, self.params["activation"]),
                torch.nn.Dropout(float(self.params["dropout"])),
            ]
            width = size
        layers.append(torch.nn.Linear(width, 1))
        return torch.nn.Sequential(*layers)

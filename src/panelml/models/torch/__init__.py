"""Neural-net model families on PyTorch (optional extra ``panelml[torch]``).

``mlp`` (:mod:`panelml.models.torch.mlp`) fits one bar's features per row;
``gru`` (:mod:`panelml.models.torch.gru`) reads each symbol's last ``lookback``
bars. Both share the training loop (:mod:`panelml.models.torch._train`): inputs
standardised and imputed from the fit rows only, mini-batches of whole
timestamps, loss ``mse`` or ``ic``, early stopping on the inner block, seeds and
deterministic mode, saving as a ``state_dict`` plus a JSON architecture.
Importing this package does not import torch.
"""

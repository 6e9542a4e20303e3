"""The training loop shared by the torch families.

Mini-batches are whole timestamps: each epoch shuffles the fit rows' timestamps
(seeded) and takes ``batch_timestamps`` of them per step, so a cross-sectional
loss sees complete cross-sections. Losses:

- ``mse``: mean squared error on the label standardised with the fit rows' mean
  and standard deviation (regression);
- ``bce``: binary cross-entropy on the logit (binary);
- ``ic``: minus the mean over the batch's timestamps of the Pearson correlation
  of predictions with the label (timestamps with fewer than 3 rows or a constant
  label are left out): the net is trained for the metric the pipeline scores.

Early stopping: after each epoch the same loss is computed on the inner
(early-stopping) block; training stops after ``patience`` epochs without a
better value and the best epoch's weights are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

LOSSES = ("mse", "ic", "bce")
MIN_GROUP_ROWS = 3
EVAL_BATCH_ROWS = 16_384

Inputs = Callable[[npt.NDArray[np.intp]], npt.NDArray[np.float32]]
"""Row numbers -> the net's standardised input array for those rows."""


@dataclass(frozen=True)
class Batches:
    """Rows sorted by timestamp group, with each group's slice (for whole-timestamp batches)."""

    rows: npt.NDArray[np.intp]
    codes: npt.NDArray[np.intp]  # dense group code (0..G-1) of each sorted row
    starts: npt.NDArray[np.intp]  # first position of each group in ``rows``, plus len(rows)

    @classmethod
    def of(cls, rows: npt.NDArray[np.intp], groups: npt.NDArray[np.int64]) -> Batches:
        order = np.argsort(groups[rows], kind="stable")
        sorted_rows = rows[order]
        _, first, codes = np.unique(groups[sorted_rows], return_index=True, return_inverse=True)
        starts = np.append(first, sorted_rows.shape[0]).astype(np.intp)
        return cls(sorted_rows, codes.astype(np.intp), starts)

    @property
    def n_groups(self) -> int:
        return int(self.starts.shape[0] - 1)

    def take(self, group_ids: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], Any]:
        """Rows of the chosen groups and their batch-local group codes (0..k-1)."""
        parts = [np.arange(self.starts[g], self.starts[g + 1]) for g in group_ids]
        pos = np.concatenate(parts)
        local = np.repeat(np.arange(len(parts)), [p.shape[0] for p in parts])
        return self.rows[pos], local


def ic_loss(torch: Any, pred: Any, y: Any, groups: Any) -> Any:
    """Minus the mean per-group Pearson correlation of ``pred`` with ``y``."""
    n_groups = int(groups.max().item()) + 1
    zeros = torch.zeros(n_groups, dtype=pred.dtype, device=pred.device)
    count = zeros.index_add(0, groups, torch.ones_like(pred))
    pc = pred - (zeros.index_add(0, groups, pred) / count)[groups]
    yc = y - (zeros.index_add(0, groups, y) / count)[groups]
    cov = zeros.index_add(0, groups, pc * yc)
    var_p = zeros.index_add(0, groups, pc * pc)
    var_y = zeros.index_add(0, groups, yc * yc)
    valid = (count >= MIN_GROUP_ROWS) & (var_y > 0)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    corr = cov[valid] / torch.sqrt(var_p[valid] * var_y[valid] + 1e-12)
    return -corr.mean()


def batch_loss(torch: Any, name: str, score: Any, y: Any, groups: Any) -> Any:
    if name == "ic":
        return ic_loss(torch, score, y, groups)
    if name == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(score, y)
    return torch.mean((score - y) ** 2)


@dataclass(frozen=True)
class LoopSettings:
    loss: str
    max_epochs: int
    patience: int
    learning_rate: float
    weight_decay: float
    batch_timestamps: int
    device: str
    seed: int


def scores(torch: Any, net: Any, inputs: Inputs, rows: npt.NDArray[np.intp], device: str) -> Any:
    """The net's raw outputs for ``rows`` (eval mode, no gradient), as a CPU tensor."""
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, rows.shape[0], EVAL_BATCH_ROWS):
            chunk = torch.from_numpy(inputs(rows[start : start + EVAL_BATCH_ROWS])).to(device)
            out.append(net(chunk).reshape(-1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


def train(
    torch: Any,
    net: Any,
    inputs: Inputs,
    target: npt.NDArray[np.float32],
    fit: Batches,
    val: Batches | None,
    settings: LoopSettings,
) -> int | None:
    """Train ``net`` in place; returns the best epoch (1-based) when ``val`` is given,
    else None (all ``max_epochs`` run). ``target`` is full-length, indexed by row."""
    device = settings.device
    net.to(device)
    optimiser = torch.optim.Adam(
        net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    rng = np.random.default_rng(settings.seed)
    y_all = torch.from_numpy(target)
    best_loss, best_epoch, best_state = np.inf, 0, None
    for epoch in range(1, settings.max_epochs + 1):
        net.train()
        order = rng.permutation(fit.n_groups).astype(np.intp)
        for start in range(0, order.shape[0], settings.batch_timestamps):
            rows, local = fit.take(order[start : start + settings.batch_timestamps])
            x = torch.from_numpy(inputs(rows)).to(device)
            y = y_all[rows].to(device)
            groups = torch.from_numpy(local).to(device)
            optimiser.zero_grad()
            loss = batch_loss(torch, settings.loss, net(x).reshape(-1), y, groups)
            loss.backward()
            optimiser.step()
        if val is None:
            continue
        val_scores = scores(torch, net, inputs, val.rows, device)
        value = float(
            batch_loss(
                torch, settings.loss, val_scores, y_all[val.rows], torch.from_numpy(val.codes)
            )
        )
        if value < best_loss - 1e-9:
            best_loss, best_epoch = value, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= settings.patience:
            break
    net.to("cpu")
    if val is None:
        return None
    if best_state is not None:
        net.load_state_dict(best_state)
    return max(best_epoch, 1)

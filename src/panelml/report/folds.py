"""The folds section: train, purge, embargo and test of every split, on a timeline.

The splits are regenerated, not read back: the run's resolved ``validation:``
section goes through :func:`panelml.validation.splitters.make_splitter` with the
target's horizon and the panel's number of bars, exactly as the stages plan
them (``stages/fitting.plan_folds``). Whatever splitter that returns (purged
k-fold, walk-forward, or a scheme added later) is drawn generically from its
``timestamp_splits``: each bar a split neither trains nor tests on is labelled
by :func:`fold_rows` (purge: its label window overlaps a test block; embargo:
the next bars after the purge; unused: anything else, e.g. after a walk-forward
test block). When the OOF table records each row's fold, the drawn test blocks
are checked against it, and a mismatch is said out loud.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from panelml.report.html import Child, Markup, note, tag
from panelml.report.inputs import ReportInputs
from panelml.report.oof import TargetOOF, bar_formatter
from panelml.report.sections import section
from panelml.report.style import FOLD_COLOURS
from panelml.report.svg_grid import TimelineRow, timeline_chart
from panelml.validation.spec import ValidationConfig
from panelml.validation.splitters import make_splitter, resolve_embargo

IntArray = npt.NDArray[np.int64]
Split = tuple[IntArray, IntArray]

FOLDS_MEANING = (
    "How the out-of-fold predictions were made. Each row is one split of the panel's bars: "
    "the model is fitted on the train bars and predicts the test bars. Purged bars are "
    "dropped from training because their label window (the next h bars) overlaps a test "
    "label; embargoed bars are dropped after that as a further safety margin. No bar is "
    "ever in train and test of the same split."
)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Inclusive (first, last) index of every run of True in ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def bar_kinds(split: Split, n_bars: int, horizon: int, embargo: int) -> npt.NDArray[np.str_]:
    """The role of every bar in one split: train, test, purge, embargo or unused.

    Around each test block [a, b]: purge is a - h < t < a and b < t < b + h (labels
    that overlap the block's), embargo the next ``embargo`` bars beyond the purge on
    either side (b + h <= t < b + h + e, and a - h - e < t <= a - h where the
    splitter leaves a gap before the block, as walk-forward does). A side with no
    training bar at all (after a walk-forward block) is unused, not purged. Train
    and test bars keep their role; the rule only names the bars a split left out.
    """
    train, test = split
    kinds = np.full(n_bars, "unused", dtype="<U7")
    is_test = np.zeros(n_bars, dtype=bool)
    is_test[test] = True
    purge = np.zeros(n_bars, dtype=bool)
    embargoed = np.zeros(n_bars, dtype=bool)
    t = np.arange(n_bars)
    trained = np.asarray(train)
    for a, b in _runs(is_test):
        if trained.size and int(trained.min()) < a:  # training before the block
            purge |= (t > a - horizon) & (t < a)
            embargoed |= (t > a - horizon - embargo) & (t <= a - horizon)
        if trained.size and int(trained.max()) > b:  # training after the block
            purge |= (t > b) & (t < b + horizon)
            embargoed |= (t >= b + horizon) & (t < b + horizon + embargo)
    kinds[embargoed] = "embargo"
    kinds[purge] = "purge"
    kinds[train] = "train"
    kinds[is_test] = "test"
    return kinds


def fold_rows(
    splits: Sequence[Split], n_bars: int, horizon: int, embargo: int, *, prefix: str = "fold"
) -> list[TimelineRow]:
    """One timeline row per split, its bars grouped into runs of one role."""
    rows = []
    for k, split in enumerate(splits):
        kinds = bar_kinds(split, n_bars, horizon, embargo)
        spans = []
        for kind in ("train", "purge", "embargo", "test", "unused"):
            spans += [(a, b, kind) for a, b in _runs(kinds == kind)]
        rows.append(TimelineRow(f"{prefix} {k}", sorted(spans)))
    return rows


def regenerate(
    validation: Mapping[str, Any] | None, horizon: int, n_bars: int
) -> tuple[Any, list[Split], int]:
    """(splitter, its splits over ``n_bars`` bars, embargo in bars) for a resolved
    ``validation:`` section. Raises ``ValueError`` (or pydantic's ``ValidationError``,
    a ``ValueError``) when the section or the panel cannot give splits."""
    cfg = ValidationConfig.model_validate(dict(validation or {}))
    splitter = make_splitter(cfg, horizon, n_bars)
    return splitter, splitter.timestamp_splits(n_bars), resolve_embargo(cfg, n_bars)


def _oof_check(splits: Sequence[Split], data: TargetOOF, timestamps: Sequence[int]) -> str | None:
    """A sentence when the saved OOF rows' folds disagree with the regenerated
    test blocks, ``None`` when they agree or cannot be compared."""
    if data.fold is None or not len(timestamps):
        return None
    tested = np.concatenate([test for _, test in splits]) if splits else np.zeros(0, np.int64)
    if np.unique(tested).size != tested.size:
        return None  # bars tested by several splits (CPCV): a row's fold id is not one split
    grid = np.asarray(timestamps, dtype=np.int64)
    bars = np.searchsorted(grid, data.timestamps)
    if bool((bars >= grid.size).any()) or bool(
        (grid[np.minimum(bars, grid.size - 1)] != data.timestamps).any()
    ):
        return None
    for fold_id in np.unique(data.fold[data.fold >= 0]).tolist():
        used = np.unique(bars[data.fold == fold_id])
        if fold_id >= len(splits) or not np.isin(used, splits[fold_id][1]).all():
            return (
                f"The saved out-of-fold rows of {data.target} do not match the folds drawn "
                f"here (fold {fold_id}), which are regenerated from the run's settings."
            )
    return None


def folds_section(inputs: ReportInputs, targets: Sequence[TargetOOF]) -> Markup:
    """One timeline per distinct horizon among ``targets`` (the trained targets shown)."""
    if not targets:
        return section("folds", "Folds", FOLDS_MEANING, note("No target was trained."))
    n_bars = len(inputs.timestamps) or _int((inputs.data_shape or {}).get("timestamps"))
    if not n_bars:
        return section(
            "folds", "Folds", FOLDS_MEANING, note("The number of bars in the panel is not known.")
        )
    validation = (inputs.config or {}).get("validation")
    label = bar_formatter(list(inputs.timestamps), inputs.timestamp_dtype)
    by_horizon: dict[int, list[TargetOOF]] = {}
    for data in targets:
        by_horizon.setdefault(int(inputs.horizons.get(data.target, 1)), []).append(data)
    parts: list[Child] = []
    for horizon, group in sorted(by_horizon.items()):
        names = ", ".join(d.target for d in group)
        parts.append(tag("h3", f"horizon {horizon} ({names})"))
        try:
            splitter, splits, embargo = regenerate(validation, horizon, n_bars)
        except (ValueError, ValidationError) as exc:
            parts.append(note(f"The folds cannot be regenerated from the run's settings: {exc}"))
            continue
        rows = fold_rows(splits, n_bars, horizon, embargo)
        chart = timeline_chart(
            rows,
            n_bars,
            colours=FOLD_COLOURS,
            title=f"folds for horizon {horizon}",
            x_format=label,
        )
        unknown = [d.target for d in group if d.target not in inputs.horizons]
        caption = (
            f"{type(splitter).__name__}: {len(splits)} splits over {n_bars} bars, horizon "
            f"{horizon} bars, embargo {embargo} bars. Hover a span for its dates."
        )
        if unknown:
            caption += f" The horizon of {', '.join(unknown)} is not recorded; 1 is assumed."
        parts.append(tag("figure", chart, tag("figcaption", caption)))
        parts += [note(m) for d in group if (m := _oof_check(splits, d, inputs.timestamps))]
    return section("folds", "Folds", FOLDS_MEANING, *parts)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

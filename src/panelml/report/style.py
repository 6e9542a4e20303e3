"""The report's look: inline CSS (light and dark), status colours and the family palette.

Everything is inline (no web fonts, no external stylesheet) so the report opens
offline and can be mailed as one file. The page follows the reader's
``prefers-color-scheme``: text, lines and backgrounds are CSS variables with a
dark set, and chart marks use either mid-tone hues that read on both
backgrounds or ``currentColor`` (the ensemble's line, the consensus bars), which
is the page's text colour.
"""

from __future__ import annotations

from collections.abc import Iterable

STATUS_COLOURS: dict[str, str] = {
    "selected": "#2e9e5b",
    "not_significant": "#9aa0a6",
    "below_top_n": "#7f93a8",
    "suspect_leak": "#d93b3b",
    "degenerate": "#d5d8dc",
}
"""Fill colour of each target-ranking status."""

UNKNOWN_STATUS_COLOUR = "#b58900"

STATUS_ORDER = ("selected", "below_top_n", "not_significant", "suspect_leak", "degenerate")

_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

ENSEMBLE_COLOUR = "currentColor"
CONSENSUS_COLOUR = "currentColor"

POSITIVE_COLOUR = "#4e79a7"
"""Bars and heatmap cells for values >= 0 (blue: readable for red-green colour blindness)."""
NEGATIVE_COLOUR = "#e15759"
"""Bars and heatmap cells for values < 0."""

FOLD_COLOURS: dict[str, str] = {
    "train": "#4e79a7",
    "purge": "#e15759",
    "embargo": "#b07aa1",
    "test": "#f28e2b",
}
"""Span colours of the fold timeline (bars a split neither trains nor tests on stay blank)."""


def status_colour(status: str) -> str:
    """The colour of a ranking status (a visible ochre for unknown ones)."""
    return STATUS_COLOURS.get(status, UNKNOWN_STATUS_COLOUR)


def palette(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per name: assigned in sorted order, so the same families
    always get the same colours whatever order they arrive in."""
    out: dict[str, str] = {}
    for i, name in enumerate(sorted(set(names))):
        out[name] = ENSEMBLE_COLOUR if name == "ensemble" else _PALETTE[i % len(_PALETTE)]
    return out


CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --line: #d8dee4;
  --bg: #ffffff; --soft: #f6f8fa; --link: #0b61c4; --grid: #eaeef2; --axis: #8c959f;
  --zero: #57606a; --bad: #a12727; --warn-bg: #fff8c5; --warn-line: #d4a72c; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --bg: #0d1117; --soft: #161b22;
    --link: #4493f8; --grid: #262c36; --axis: #6e7681; --zero: #9198a1; --bad: #f85149;
    --warn-bg: #2e2a1a; --warn-line: #9e6a03; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
        Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 8px; display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 14px; }
nav a { color: var(--link); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 8px; }
#data-warnings { border: 1px solid var(--warn-line); border-left-width: 5px;
  background: var(--warn-bg); border-radius: 6px; padding: 4px 16px; margin-top: 16px; }
#data-warnings ul { margin: 4px 0 8px; padding-left: 20px; }
p.clean { color: var(--muted); font-size: 13px; margin: 10px 0 0; }
h2 { font-size: 20px; margin: 10px 0 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 4px; color: var(--muted); }
p.explain { color: var(--muted); margin: 0 0 12px; max-width: 78ch; }
p.note { color: var(--muted); font-style: italic; margin: 6px 0; }
.scroll { overflow-x: auto; margin: 6px 0 12px; }
table.data { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 3px 10px; border-bottom: 1px solid var(--line);
  text-align: left; white-space: nowrap; }
table.data th { background: var(--soft); font-weight: 600; }
table.data th.sortable { cursor: pointer; user-select: none; }
table.data th.sortable::after { content: " \\2195"; color: var(--muted); font-weight: 400; }
table.data th[aria-sort="ascending"]::after { content: " \\2191"; }
table.data th[aria-sort="descending"]::after { content: " \\2193"; }
table.data td.num { text-align: right; }
table.data tr.removed td { color: var(--bad); }
table.kv th { width: 14em; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
  color: #fff; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 12px; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 12px; min-width: 120px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
figure { margin: 8px 0 14px; }
figcaption { color: var(--muted); font-size: 12px; max-width: 78ch; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
  gap: 4px 24px; }
svg { max-width: 100%; height: auto; font-family: inherit; color: var(--fg); }
svg text { font-size: 11px; fill: var(--fg); }
svg .axis { stroke: var(--axis); stroke-width: 1; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .zero { stroke: var(--zero); stroke-width: 1; stroke-dasharray: 3 3; }
svg .marker { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 2 3; }
svg text.marker-label { font-size: 9px; fill: var(--muted); }
svg text.cell-label { font-size: 10px; }
details { margin: 6px 0 12px; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px; font-size: 12px; overflow-x: auto; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
"""

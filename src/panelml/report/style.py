"""The report's look: inline CSS, status colours and the family palette.

Everything is inline (no web fonts, no external stylesheet) so the report opens
offline and can be mailed as one file.
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

ENSEMBLE_COLOUR = "#222222"
CONSENSUS_COLOUR = "#3b3b52"


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
:root { --fg: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #ffffff; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
        Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 8px; display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 14px; }
nav a { color: #0b61c4; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 8px; }
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
table.data td.num { text-align: right; }
table.data tr.removed td { color: #a12727; }
table.kv th { width: 14em; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
  color: #fff; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 12px; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 12px; min-width: 120px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
figure { margin: 8px 0 14px; }
figcaption { color: var(--muted); font-size: 12px; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg text { font-size: 11px; fill: var(--fg); }
svg .axis { stroke: #8c959f; stroke-width: 1; }
svg .grid { stroke: #eaeef2; stroke-width: 1; }
svg .zero { stroke: #57606a; stroke-width: 1; stroke-dasharray: 3 3; }
details { margin: 6px 0 12px; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px; font-size: 12px; overflow-x: auto; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
"""

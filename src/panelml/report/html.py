"""A tiny, safe HTML builder: every piece of text is escaped unless it is :class:`Markup`.

The report is assembled from nested calls to :func:`tag`. Plain ``str`` children
and attribute values are always escaped, so a feature or target name such as
``<script>`` can never inject markup; only strings already produced by this
module (``Markup``) pass through unchanged. Void HTML elements (``meta``,
``br``...) get no closing tag; SVG leaf elements are written self-closing
(``<circle .../>``) via :func:`leaf`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class Markup(str):
    """A string that is already valid HTML and must not be escaped again."""

    __slots__ = ()


Child: TypeAlias = "str | Markup | int | float | Iterable[Child] | None"
AttrValue: TypeAlias = str | int | float | bool | None


def escape(value: object) -> Markup:
    """``value`` as text safe to place in HTML content or a quoted attribute."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Child]) -> Markup:
    """Concatenate children (escaping plain text) into one :class:`Markup`."""
    return Markup("".join(_render_child(p) for p in parts))


def _render_child(child: Child) -> str:
    if child is None:
        return ""
    if isinstance(child, Markup):
        return child
    if isinstance(child, str):
        return html.escape(child, quote=False)
    if isinstance(child, int | float):
        return html.escape(str(child), quote=False)
    return "".join(_render_child(c) for c in child)


def _attrs(attrs: dict[str, AttrValue]) -> str:
    out = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        if value is True:
            out.append(f" {name}")
        else:
            out.append(f' {name}="{html.escape(str(value), quote=True)}"')
    return "".join(out)


def tag(name: str, /, *children: Child, **attrs: AttrValue) -> Markup:
    """``<name attrs>children</name>``; attribute ``class_`` becomes ``class`` and
    underscores become dashes (``data_target`` -> ``data-target``)."""
    if name in VOID_ELEMENTS:
        if children:
            raise ValueError(f"<{name}> is a void element and cannot have children")
        return Markup(f"<{name}{_attrs(attrs)}>")
    return Markup(f"<{name}{_attrs(attrs)}>{join(children)}</{name}>")


def leaf(name: str, /, **attrs: AttrValue) -> Markup:
    """A self-closing element (for SVG shapes): ``<name attrs/>``."""
    return Markup(f"<{name}{_attrs(attrs)}/>")


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: fixed decimals, scientific for tiny values, dash for missing.

    Deterministic (no locale), so identical inputs give identical reports.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.{max(digits - 1, 1)}e}"
        return f"{value:.{digits}f}"
    return str(value)


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Child]],
    *,
    numeric: Iterable[int] = (),
    class_: str = "data",
    row_classes: Sequence[str | None] | None = None,
) -> Markup:
    """A ``<table>`` with a header row; cells at ``numeric`` positions are right-aligned."""
    right = set(numeric)
    head = tag("thead", tag("tr", [tag("th", c) for c in columns]))
    body_rows = []
    for i, row in enumerate(rows):
        cells = [
            tag("td", cell, class_="num" if j in right else None) for j, cell in enumerate(row)
        ]
        css = row_classes[i] if row_classes is not None and i < len(row_classes) else None
        body_rows.append(tag("tr", cells, class_=css))
    return tag("div", tag("table", head, tag("tbody", body_rows), class_=class_), class_="scroll")


def note(text: Child) -> Markup:
    """A one-line muted remark (for example: why a section is empty)."""
    return tag("p", text, class_="note")


def explain(text: Child) -> Markup:
    """The short 'what this means' sentence under a section heading."""
    return tag("p", text, class_="explain")

"""``panelml models``: the model families a config can name, with what each declares.

One row per family in the model registry (built in, registered with
``@register_model``, or installed through the ``panelml.models`` entry points):
its default params per task, importance kinds, and the capabilities stages act on
(early stopping, multi-target fits, reading each symbol's history, a ``device``
param). Whether the family's library is installed is checked without importing
it, so the listing stays fast and names the extra to install.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import typer

from panelml.commands.common import JsonOpt, emit_json, out_console, user_errors

# The optional library each built-in family needs, and the extra that installs it.
_EXTRAS: dict[str, tuple[str, str]] = {
    "lightgbm": ("lightgbm", "panelml"),
    "xgboost": ("xgboost", "panelml[xgboost]"),
    "catboost": ("catboost", "panelml[catboost]"),
    "mlp": ("torch", "panelml[torch]"),
    "gru": ("torch", "panelml[torch]"),
}


def family_listing() -> list[dict[str, Any]]:
    """Every registered family as JSON data (what ``panelml models --json`` prints)."""
    from panelml.models.registry import available_families, get_family

    out: list[dict[str, Any]] = []
    for name in available_families():
        cls = get_family(name)
        library, extra = _EXTRAS.get(name, ("", ""))
        installed = not library or importlib.util.find_spec(library) is not None
        doc = (cls.__doc__ or "").strip().splitlines()
        out.append(
            {
                "family": name,
                "description": doc[0] if doc else "",
                "installed": installed,
                "install": "" if installed else f"pip install '{extra}'",
                "importance_kinds": list(cls.importance_kinds),
                "early_stopping": cls.supports_early_stopping,
                "fit_many": cls.supports_fit_many,
                "needs_row_index": cls.needs_row_index,
                "reads_history": cls.reads_history,
                "device_param": "device" in cls.default_params,
                "default_params": {
                    task: cls.defaults_for(task) for task in ("regression", "binary")
                },
            }
        )
    return out


def models(as_json: JsonOpt = False) -> None:
    """List the model families (built in, registered and installed) and their params."""
    from rich.markup import escape
    from rich.table import Table

    with user_errors():
        listing = family_listing()
    if as_json:
        emit_json(listing)
        return
    table = Table(title="model families", title_justify="left", show_lines=True)
    for column in ("family", "importance", "capabilities", "default params (regression)"):
        table.add_column(column)
    for row in listing:
        capabilities = [
            label
            for label, key in (
                ("early stopping", "early_stopping"),
                ("fit_many", "fit_many"),
                ("sequence (history)", "reads_history"),
                ("device", "device_param"),
            )
            if row[key]
        ]
        if not row["installed"]:
            capabilities.append(f"not installed: {row['install']}")
        params = ", ".join(f"{k}={v!r}" for k, v in row["default_params"]["regression"].items())
        table.add_row(
            escape(row["family"]),
            escape(", ".join(row["importance_kinds"])),
            escape("; ".join(capabilities)),
            escape(params),
        )
    out_console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command to ``app`` (the main ``panelml`` CLI)."""
    app.command("models")(models)

"""Config error messages: where in the file, what was expected, what was found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from panelml.config.schema import SECTIONS, StageEntry
from panelml.pipeline.suggest import did_you_mean


# -- messages ------------------------------------------------------------------
def yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


def _loc(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation(
    where: str,
    exc: ValidationError,
    raw: Any,
    *,
    prefix: str | None = None,
    model: type[BaseModel] | None = None,
) -> str:
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = _loc([prefix, *loc] if prefix else loc) or (prefix or "(top level)")
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = model if prefix else SECTIONS.get(str(loc[0])) if loc else None
            if not prefix and len(loc) > 3 and loc[0] == "pipeline":
                owner = StageEntry
            fields = list(owner.model_fields) if owner is not None else []
            problems.append(
                f"{key}: unknown key{did_you_mean(str(loc[-1]), fields)}"
                + (f"; expected one of {', '.join(fields)}" if fields else "")
            )
        elif kind == "missing":
            problems.append(f"{key}: required key is missing")
        else:
            found = _short(error.get("input"))
            problems.append(f"{key}: {error['msg']}, found {found}")
    head = f"{where}: " if len(problems) == 1 else f"{where}: {len(problems)} problems: "
    return head + "; ".join(problems)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

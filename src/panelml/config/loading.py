"""Reading a config: the YAML file, ``--set`` overrides, validation of the sections."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from panelml.config.messages import format_validation, yaml_problem
from panelml.config.resolve import resolve_config
from panelml.config.schema import DEFAULT_STAGES, SECTIONS, ExperimentConfig
from panelml.pipeline.errors import ConfigError


# -- loading -------------------------------------------------------------------
def load_config(
    path: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Read, override, validate and resolve an experiment YAML file, or a mapping
    with the same layout (relative paths then resolve against the working folder).

    ``overrides`` are ``KEY.PATH=VALUE`` strings (``--set``); values are parsed as
    YAML. The returned config has every stage's params resolved (defaults
    filled in, top-level stage sections merged) and its hooks checked.
    """
    return resolve_config(read_config(path, overrides))


def read_config(
    path: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Read, override and validate an experiment YAML file or mapping (not yet resolved)."""
    if isinstance(path, Mapping):
        raw = apply_overrides(path, overrides, where="config")
        return validate_config(raw, base_dir=Path.cwd(), source=None)
    if not isinstance(path, str | Path):
        raise ConfigError(
            f"the config is a {type(path).__name__}; pass a YAML file path, a dict with the "
            "YAML's layout (experiment:, data:, ...) or an ExperimentConfig"
        )
    file = Path(path)
    where = str(file)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise ConfigError(f"{where}: config file {what}; expected a YAML file")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML syntax error: {yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the config file: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: expected a mapping at the top level (experiment:, data:, ...), "
            f"found {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides, where=where)
    return validate_config(raw, base_dir=file.resolve().parent, source=file)


def validate_config(
    raw: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> ExperimentConfig:
    """Validate a raw mapping into an :class:`ExperimentConfig` (not yet resolved)."""
    where = str(source) if source is not None else "config"
    try:
        config = ExperimentConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(format_validation(where, exc, raw)) from None
    return config.locate(base_dir or Path.cwd(), source)


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str], *, where: str = "config"
) -> dict[str, Any]:
    """A copy of ``raw`` with each ``KEY.PATH=VALUE`` override set (value parsed as YAML).

    Lists are YAML flow sequences: ``pipeline.stages=[target_ranking,report]``.
    Replacing ``pipeline.stages`` drops the top-level sections of the stages the
    new list leaves out (they configured the file's pipeline, not this one), so
    a file's ``feature_selection:`` section does not turn into an unknown key.
    """
    out: dict[str, Any] = _deep_copy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _OVERRIDE_KEY.match(key):
            raise ConfigError(
                f"--set {item!r}: expected KEY.PATH=VALUE, for example "
                "'target_ranking.top_n=3' or 'runtime.seed=7'"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
        before = _stage_names(out)
        _set_path(out, key.split("."), value, item)
        if key == "pipeline.stages":
            _drop_removed_sections(out, before, item)
    return out


def _stage_names(raw: Mapping[str, Any]) -> list[str]:
    """The stage names a raw config's pipeline lists (the defaults when it lists none)."""
    pipeline = raw.get("pipeline")
    entries = pipeline.get("stages") if isinstance(pipeline, Mapping) else None
    if entries is None:
        return list(DEFAULT_STAGES)
    if not isinstance(entries, list):
        return []
    names = [
        e if isinstance(e, str) else e.get("name") if isinstance(e, Mapping) else None
        for e in entries
    ]
    return [n for n in names if isinstance(n, str)]


def _drop_removed_sections(out: dict[str, Any], before: list[str], item: str) -> None:
    stages = out["pipeline"]["stages"]
    if not isinstance(stages, list):
        raise ConfigError(
            f"--set {item!r}: pipeline.stages must be a list, for example "
            "'pipeline.stages=[target_ranking,report]'"
        )
    kept = set(_stage_names(out))
    for name in before:
        if name not in kept and name not in SECTIONS:
            out.pop(name, None)


_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*$")


def _set_path(target: dict[str, Any], parts: list[str], value: Any, item: str) -> None:
    node: Any = target
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, item, parts[: depth + 1], create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, item)
        node[index] = value
    else:
        node[last] = value


def _child(node: Any, part: str, item: str, path: list[str], *, create: bool) -> Any:
    if isinstance(node, list):
        index = _index(node, part, item)
        if isinstance(node[index], str) and path[0] in ("pipeline", "hooks"):
            # a stage or hook given as a plain name: expand it so its fields can be set
            node[index] = {"name": node[index]}
        return node[index]
    if not isinstance(node, dict):
        raise ConfigError(
            f"--set {item!r}: {'.'.join(path[:-1])} is a {type(node).__name__}, not a mapping"
        )
    if node.get(part) is None and create:
        node[part] = {}
    return node[part]


def _index(node: list[Any], part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(
            f"--set {item!r}: {part!r} is not an index of a list of {len(node)} items"
        )
    return int(part)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value

"""The stage engine: stages, hooks, events, registry, cache, runner.

This package imports nothing from the ML side of panelml (data, models,
validation, stages, ...), so it can be read, tested and reused alone. The rule
is enforced by import-linter contracts in ``pyproject.toml``.
"""

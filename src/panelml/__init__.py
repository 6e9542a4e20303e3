"""panelml: leakage-safe, config-driven training pipelines for panel data."""

__version__ = "0.1.0"

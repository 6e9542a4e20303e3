"""Point-in-time features and forward targets from long-format prices."""

from panelml.features.builder import build_features, build_features_file, read_prices
from panelml.features.spec import (
    CrossSectionalSpec,
    FeatureBuildError,
    FeatureSpec,
    load_feature_spec,
)

__all__ = [
    "CrossSectionalSpec",
    "FeatureBuildError",
    "FeatureSpec",
    "build_features",
    "build_features_file",
    "load_feature_spec",
    "read_prices",
]

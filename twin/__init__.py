"""twin: the unified, georeferenced digital twin of a city ("one map", 一张图).

The core package: the layer catalogue, features and meshes, the embedded
GeoPackage store, queries and pipe-network topology. It imports only numpy,
shapely, pyproj, networkx and the standard library; converters, viewers and
the API build on it.

>>> import twin
>>> twin.layer_for_utility_code("JS")
'water_supply'
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AnalysisError,
    ConfigError,
    ConversionError,
    CRSError,
    ExportError,
    FeatureError,
    GeometryError,
    HierarchyError,
    ImportFailedError,
    LayerError,
    MissingExtraError,
    NotATwinError,
    NotFoundError,
    OptionError,
    QueryError,
    SchemaVersionError,
    StoreError,
    TwinError,
)
from .layers import STANDARD_LAYERS, Layer, layer_for_utility_code  # noqa: E402
from .model import Edge, Feature, ImportBatch, Mesh, Provenance  # noqa: E402
from .query import Filter, Query, parse_filter  # noqa: E402
from .store import TwinStore, create_twin, open_twin  # noqa: E402

__all__ = [
    "AnalysisError", "CRSError", "ConfigError", "ConversionError", "Edge", "ExportError",
    "Feature", "FeatureError", "Filter", "GeometryError", "HierarchyError", "ImportBatch",
    "ImportFailedError", "Layer", "LayerError", "Mesh", "MissingExtraError", "NotATwinError",
    "NotFoundError", "OptionError", "Provenance", "Query", "QueryError", "STANDARD_LAYERS",
    "SchemaVersionError", "StoreError", "TwinError", "TwinStore", "__version__", "create_twin",
    "layer_for_utility_code", "open_twin", "parse_filter",
]

"""The layer catalogue of the "one map" (一张图).

Every feature of the twin belongs to exactly one layer. The standard layers
have fixed names so that converters, the API and the viewers agree on them:
above-ground city objects, the surface (terrain, roads, land use, water,
vegetation) and the underground utility networks with the type codes of the
Chinese survey standard CJJ 61 (城市地下管线探测技术规程): JS water supply,
PS drainage (YS rain water, WS sewage), RQ gas, RL heating, DL power,
TX telecom, GY industrial, plus the pipe nodes (manholes, valves, junctions).

Utility colours follow the national convention for pipeline maps: water
supply blue, drainage brown, gas magenta, heating orange, power red,
telecom green, industrial black.

Users add their own layers with :class:`Layer` and
:meth:`twin.store.TwinStore.add_layer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import LayerError

#: The three groups a layer can belong to, drawn in this order from the top.
GROUPS = ("above_ground", "surface", "underground")

#: Geometry types a layer's 2D geometry column may hold (GeoPackage names).
GEOMETRY_TYPES = ("GEOMETRY", "MULTIPOLYGON", "LINESTRING", "POINT")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

#: Names the store uses for its own tables; a layer may not take them.
RESERVED_PREFIXES = ("gpkg_", "rtree_", "twin_", "sqlite_")


@dataclass(frozen=True)
class Layer:
    """One layer of the twin.

    Parameters
    ----------
    name : str
        Fixed identifier, lower case ``[a-z][a-z0-9_]*``; also the name of the
        layer's table in the GeoPackage, as QGIS lists it.
    title : str
        Human-readable title (English); ``title_zh`` is the Chinese one.
    group : str
        One of :data:`GROUPS`.
    colour : str
        Default colour as ``#rrggbb``.
    geometry_type : str
        The 2D geometry GIS tools see: ``MULTIPOLYGON`` for footprints,
        ``LINESTRING`` (with Z) for centrelines, ``POINT`` (with Z) for nodes,
        ``GEOMETRY`` for anything.
    code : str or None
        The CJJ 61 utility type code (``JS``, ``RL``, ...) for utility layers.
    attributes : tuple of str
        The typed attributes (see :mod:`twin.attributes`) shown as columns of
        the layer's GeoPackage table.
    """

    name: str
    title: str
    group: str
    colour: str
    geometry_type: str = "GEOMETRY"
    code: str | None = None
    title_zh: str = ""
    attributes: tuple[str, ...] = field(default_factory=tuple)
    standard: bool = False

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name) or self.name.startswith(RESERVED_PREFIXES):
            raise LayerError(
                f"layer name {self.name!r} is invalid: use lower-case letters, digits "
                f"and '_', start with a letter, at most 63 characters, and avoid the "
                f"prefixes {', '.join(RESERVED_PREFIXES)}"
            )
        if self.group not in GROUPS:
            raise LayerError(
                f"layer {self.name!r}: group {self.group!r} is not valid, must be one "
                f"of {', '.join(GROUPS)}"
            )
        if not re.match(r"^#[0-9a-fA-F]{6}$", self.colour):
            raise LayerError(f"layer {self.name!r}: colour {self.colour!r} is not #rrggbb")
        if self.geometry_type not in GEOMETRY_TYPES:
            raise LayerError(
                f"layer {self.name!r}: geometry type {self.geometry_type!r} is not valid, "
                f"must be one of {', '.join(GEOMETRY_TYPES)}"
            )
        from .attributes import TYPED_ATTRIBUTES

        unknown = [a for a in self.attributes if a not in TYPED_ATTRIBUTES]
        if unknown:
            raise LayerError(
                f"layer {self.name!r}: {unknown} are not typed attributes; known: "
                f"{', '.join(sorted(TYPED_ATTRIBUTES))}"
            )

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as an ``(r, g, b)`` tuple of 0-255 ints."""
        c = self.colour.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)

    @property
    def is_utility(self) -> bool:
        return self.code is not None


_BUILDING_ATTRS = ("height", "storeys", "storeys_below", "year_built", "function", "roof_type")
_PIPE_ATTRS = (
    "network", "diameter_mm", "width_mm", "height_mm", "material", "install_year",
    "pressure_class", "depth_m", "owner", "status",
)
_NODE_ATTRS = ("network", "depth_m", "install_year", "material", "status")


def _std(name, title, title_zh, group, colour, geom, code=None, attrs=()):
    return Layer(name=name, title=title, title_zh=title_zh, group=group, colour=colour,
                 geometry_type=geom, code=code, attributes=tuple(attrs), standard=True)


#: The standard layers, in drawing order.
STANDARD_LAYERS: tuple[Layer, ...] = (
    _std("buildings", "Buildings", "建筑", "above_ground", "#d9d0c1", "MULTIPOLYGON",
         attrs=_BUILDING_ATTRS),
    _std("building_elements", "Building elements (BIM)", "建筑构件", "above_ground",
         "#b8b2a7", "MULTIPOLYGON", attrs=("material", "storey")),
    _std("bridges", "Bridges", "桥梁", "above_ground", "#9e9e9e", "MULTIPOLYGON",
         attrs=("height", "year_built")),
    _std("city_furniture", "City furniture", "城市家具", "above_ground", "#7f6a93",
         "GEOMETRY", attrs=("height", "function")),
    _std("vegetation", "Vegetation", "植被", "surface", "#4caf50", "MULTIPOLYGON",
         attrs=("height", "function")),
    _std("terrain", "Terrain", "地形", "surface", "#c2b280", "MULTIPOLYGON"),
    _std("roads", "Roads", "道路", "surface", "#6e6e6e", "MULTIPOLYGON",
         attrs=("function", "width_m", "road_class")),
    _std("road_centrelines", "Road centrelines", "道路中心线", "surface", "#3a3a3a",
         "LINESTRING", attrs=("function", "width_m", "road_class")),
    _std("landuse", "Land use / public space", "用地与公共空间", "surface", "#e8e3a0",
         "MULTIPOLYGON", attrs=("function",)),
    _std("water", "Water bodies", "水体", "surface", "#64b5f6", "MULTIPOLYGON",
         attrs=("function",)),
    _std("tunnels", "Tunnels", "隧道", "underground", "#8d6e63", "MULTIPOLYGON",
         attrs=("year_built",)),
    _std("water_supply", "Water supply (JS)", "给水管线", "underground", "#0070c0",
         "LINESTRING", code="JS", attrs=_PIPE_ATTRS),
    _std("drainage", "Drainage (PS)", "排水管线", "underground", "#8b5a2b", "LINESTRING",
         code="PS", attrs=_PIPE_ATTRS),
    _std("rainwater", "Rain water (YS)", "雨水管线", "underground", "#a0522d",
         "LINESTRING", code="YS", attrs=_PIPE_ATTRS),
    _std("sewage", "Sewage (WS)", "污水管线", "underground", "#6b3e1f", "LINESTRING",
         code="WS", attrs=_PIPE_ATTRS),
    _std("gas", "Gas (RQ)", "燃气管线", "underground", "#e020e0", "LINESTRING", code="RQ",
         attrs=_PIPE_ATTRS),
    _std("heating", "Heating (RL)", "热力管线", "underground", "#ff8c00", "LINESTRING",
         code="RL", attrs=_PIPE_ATTRS),
    _std("power", "Power (DL)", "电力管线", "underground", "#e00000", "LINESTRING",
         code="DL", attrs=_PIPE_ATTRS + ("cable_count",)),
    _std("telecom", "Telecom (TX)", "通信管线", "underground", "#00a000", "LINESTRING",
         code="TX", attrs=_PIPE_ATTRS + ("cable_count",)),
    _std("industrial", "Industrial (GY)", "工业管线", "underground", "#000000",
         "LINESTRING", code="GY", attrs=_PIPE_ATTRS),
    _std("pipe_nodes", "Pipe nodes (manholes, valves, junctions)", "管线点", "underground",
         "#5a5a5a", "POINT", attrs=_NODE_ATTRS),
    _std("generic", "Other city objects", "其他", "above_ground", "#bdbdbd", "GEOMETRY",
         attrs=("height", "function")),
)

STANDARD_LAYER_NAMES = frozenset(layer.name for layer in STANDARD_LAYERS)

#: CJJ 61 utility code -> standard layer name.
UTILITY_LAYER_BY_CODE: dict[str, str] = {
    layer.code: layer.name for layer in STANDARD_LAYERS if layer.code is not None
}


def layer_for_utility_code(code: str) -> str:
    """The standard layer name for a CJJ 61 type code (case-insensitive).

    >>> layer_for_utility_code("rl")
    'heating'
    """
    key = code.strip().upper()
    try:
        return UTILITY_LAYER_BY_CODE[key]
    except KeyError:
        raise LayerError(
            f"{code!r} is not a CJJ 61 utility code, must be one of "
            f"{', '.join(UTILITY_LAYER_BY_CODE)}"
        ) from None


def default_feature_type(layer: str, geom_type: str | None) -> str:
    """The object type of a feature a GIS client creates without one (OGC API
    Part 4 writes, edits saved from QGIS): the layer's usual class, else the
    geometry's type."""
    if layer in UTILITY_LAYER_BY_CODE.values():
        return "PipeSegment"
    return {"buildings": "Building", "pipe_nodes": "PipeNode", "roads": "Road",
            "landuse": "LandUse", "water": "WaterBody", "vegetation": "PlantCover"
            }.get(layer, geom_type or "Feature")


def default_network(layer: str) -> str | None:
    """The network code of a utility layer (``None`` for other layers)."""
    return next((c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer), None)

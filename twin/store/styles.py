"""The default style of each layer, as QGIS (QML) and other GIS tools (OGC
SLD 1.1) read it: one symbol in the layer's catalogue colour
(``twin/layers.py``). Both stores write them into the ``layer_styles`` table
QGIS reads (:mod:`twin.store.gpkg.qgis`, :mod:`twin.store.postgis.qgis`).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from ..layers import Layer

#: Who the styles written by the toolkit belong to (``layer_styles.owner``):
#: rows of other owners (styles users saved from QGIS) are kept.
OWNER = "digital-twin-city"
STYLE_NAME = "twin default"


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _darker(colour: str, f: float = 0.6) -> str:
    r, g, b = (int(v * f) for v in _rgb(colour))
    return f"#{r:02x}{g:02x}{b:02x}"


def _kind(layer: Layer) -> str:
    """``fill``, ``line`` or ``marker``: how QGIS draws the layer's geometry
    (a layer of any geometry is drawn as markers: QGIS splits it by type)."""
    return {"MULTIPOLYGON": "fill", "LINESTRING": "line"}.get(layer.geometry_type, "marker")


def _props(props: dict[str, str]) -> str:
    """QGIS 3's ``Option`` map and the older ``prop`` list, as QGIS writes both."""
    opts = "".join(f'<Option type="QString" name={quoteattr(k)} value={quoteattr(v)}/>'
                   for k, v in props.items())
    old = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return f'<Option type="Map">{opts}</Option>{old}'


def style_qml(layer: Layer) -> str:
    """A QGIS style document: one symbol in the layer's catalogue colour."""
    r, g, b = _rgb(layer.colour)
    dr, dg, db = _rgb(_darker(layer.colour))
    kind = _kind(layer)
    if kind == "fill":
        cls, props = "SimpleFill", {
            "color": f"{r},{g},{b},255", "style": "solid", "outline_style": "solid",
            "outline_color": f"{dr},{dg},{db},255", "outline_width": "0.26",
            "outline_width_unit": "MM", "joinstyle": "bevel"}
    elif kind == "line":
        cls, props = "SimpleLine", {
            "line_color": f"{r},{g},{b},255", "line_width": "0.66", "line_width_unit": "MM",
            "line_style": "solid", "capstyle": "round", "joinstyle": "round"}
    else:
        cls, props = "SimpleMarker", {
            "color": f"{r},{g},{b},255", "name": "circle", "size": "2.4", "size_unit": "MM",
            "outline_color": f"{dr},{dg},{db},255", "outline_width": "0.2",
            "outline_style": "solid"}
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        '<qgis version="3.22.0-Białowieża" styleCategories="Symbology">'
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" '
        'forceraster="0"><symbols>'
        f'<symbol type="{kind}" name="0" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{cls}" enabled="1" locked="0" pass="0">{_props(props)}</layer>'
        "</symbol></symbols><rotation/><sizescale/></renderer-v2>"
        f"{_geometry_type(layer, kind)}</qgis>")


def _geometry_type(layer: Layer, kind: str) -> str:
    """The QML's geometry type, except for layers of any geometry (QGIS
    refuses a style made for another geometry type)."""
    if layer.geometry_type == "GEOMETRY":
        return ""
    return f"<layerGeometryType>{ {'fill': 2, 'line': 1, 'marker': 0}[kind] }</layerGeometryType>"


def style_sld(layer: Layer) -> str:
    """The same style as an OGC SLD 1.1 document (Symbology Encoding)."""
    kind = _kind(layer)
    c, dark = layer.colour, _darker(layer.colour)

    def p(name: str, value: str) -> str:
        return f'<se:SvgParameter name="{name}">{escape(value)}</se:SvgParameter>'

    if kind == "fill":
        sym = (f"<se:PolygonSymbolizer><se:Fill>{p('fill', c)}</se:Fill><se:Stroke>"
               f"{p('stroke', dark)}{p('stroke-width', '1')}</se:Stroke>"
               "</se:PolygonSymbolizer>")
    elif kind == "line":
        sym = (f"<se:LineSymbolizer><se:Stroke>{p('stroke', c)}{p('stroke-width', '2')}"
               f"{p('stroke-linecap', 'round')}</se:Stroke></se:LineSymbolizer>")
    else:
        sym = ("<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle"
               f"</se:WellKnownName><se:Fill>{p('fill', c)}</se:Fill><se:Stroke>"
               f"{p('stroke', dark)}</se:Stroke></se:Mark><se:Size>9</se:Size></se:Graphic>"
               "</se:PointSymbolizer>")
    title = escape(f"{layer.title} {layer.title_zh}".strip())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:se="http://www.opengis.net/se" xmlns:ogc="http://www.opengis.net/ogc" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<NamedLayer><se:Name>{escape(layer.name)}</se:Name><UserStyle>"
        f"<se:Name>{STYLE_NAME}</se:Name><se:FeatureTypeStyle><se:Rule>"
        f"<se:Name>{title}</se:Name>{sym}</se:Rule></se:FeatureTypeStyle></UserStyle>"
        "</NamedLayer></StyledLayerDescriptor>")


__all__ = ["OWNER", "STYLE_NAME", "style_qml", "style_sld"]

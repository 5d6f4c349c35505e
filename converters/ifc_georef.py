"""Where an IFC model lies on Earth: its georeferencing, read in a fixed order.

A BIM model is drawn in a local engineering coordinate system (metres or
millimetres from a project origin). How that system maps to a CRS is
written in one of several places, depending on the schema and the
authoring tool. They are tried in this order:

1. ``IfcMapConversion`` (IFC4 and later; ``IfcMapConversionScaled`` too) to
   an ``IfcProjectedCRS``: eastings, northings and orthogonal height of the
   local origin, the direction of the local X axis in the map
   (``XAxisAbscissa``, ``XAxisOrdinate``) and a scale.
   ``IfcRigidOperation`` (IFC4.3) gives the origin only, possibly as
   longitude/latitude of an ``IfcGeographicCRS``.
2. The IFC2X3 convention of the buildingSMART georeferencing guide: the same
   values in the property sets ``ePSet_MapConversion`` and
   ``ePSet_ProjectedCRS`` of the ``IfcProject``.
3. ``IfcSite.RefLatitude``/``RefLongitude``/``RefElevation`` with the
   context's ``TrueNorth``: the site origin is placed at that point of a
   local transverse Mercator projection and the model is turned so that its
   true north points north. Good to a few centimetres over a building.
4. The user's ``--origin``/``--rotation`` (and ``--crs``) override all of
   them.

Scale: the standard says map units = ``Scale`` x local units, but writers
disagree (the buildingSMART Gauss-Krueger sample writes 1000 for a
millimetre model whose map is in metres). The metric scale must be close
to 1 (a grid scale factor), so the reading that gives that is taken, and
the report says so when it is not the literal one.

:class:`Georef` then maps ``(n, 3)`` local metres to map coordinates with
pure numpy (:meth:`Georef.to_map`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS

from twin.crs import parse_crs
from twin.errors import ConversionError, CRSError


@dataclass(frozen=True)
class Georef:
    """A local-to-map transformation.

    ``origin`` (3,) is where the local origin lies in ``crs`` (metres);
    ``rotation`` is the angle of the local X axis from map east,
    anticlockwise, in radians; ``scale`` multiplies plan distances.
    """

    method: str
    crs: CRS
    origin: tuple[float, float, float]
    rotation: float = 0.0
    scale: float = 1.0
    notes: tuple[str, ...] = ()

    def to_map(self, xyz: np.ndarray) -> np.ndarray:
        """``xyz (n, 3)`` local metres -> ``(n, 3)`` map coordinates in :attr:`crs`."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        out = np.empty_like(xyz)
        out[:, 0] = self.origin[0] + self.scale * (c * xyz[:, 0] - s * xyz[:, 1])
        out[:, 1] = self.origin[1] + self.scale * (s * xyz[:, 0] + c * xyz[:, 1])
        out[:, 2] = self.origin[2] + xyz[:, 2]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method, "crs": self.crs.to_string(),
            "origin": [round(v, 4) for v in self.origin],
            "rotation_deg": round(math.degrees(self.rotation), 6),
            "scale": self.scale, "notes": list(self.notes),
        }


def local_tm(lat: float, lon: float) -> CRS:
    """A transverse Mercator CRS centred on ``lat``/``lon`` (WGS 84), in metres."""
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat:.10f} +lon_0={lon:.10f} +k=1 +x_0=0 +y_0=0 "
        "+ellps=WGS84 +towgs84=0,0,0 +units=m +no_defs")


def local_origin(entity: Any, unit: float) -> np.ndarray | None:
    """``(3,)`` local metres of the origin of an entity's ``ObjectPlacement``
    (``unit``: metres per project length unit); ``None`` when it has none."""
    if getattr(entity, "ObjectPlacement", None) is None:
        return None
    import ifcopenshell.util.placement as up

    return up.get_local_placement(entity.ObjectPlacement)[:3, 3] * unit


def compound_angle(value: Any) -> float | None:
    """An IFC compound plane angle (degrees, minutes, seconds, millionths) in degrees.

    >>> round(compound_angle((49, 6, 1, 566000)), 6)
    49.100435
    """
    if not value:
        return None
    parts = list(value) + [0] * (4 - len(value))
    d, m, s, us = (float(p) for p in parts[:4])
    return d + m / 60 + s / 3600 + us / 3.6e9


def _unit_metres(unit: Any) -> float | None:
    """Metres per ``unit`` (an IfcSIUnit or IfcConversionBasedUnit of length)."""
    if unit is None:
        return None
    if unit.is_a("IfcSIUnit"):
        prefix = {"MILLI": 1e-3, "CENTI": 1e-2, "DECI": 1e-1, "KILO": 1e3}
        return prefix.get(unit.Prefix or "", 1.0)
    if unit.is_a("IfcConversionBasedUnit"):
        factor = float(unit.ConversionFactor.ValueComponent.wrappedValue)
        return factor * (_unit_metres(unit.ConversionFactor.UnitComponent) or 1.0)
    return None


def _metric_scale(scale: float, project_unit: float, map_unit: float) -> tuple[float, str | None]:
    """The plan scale to apply to local metres, and a note when a reading was chosen."""
    literal = map_unit * scale / project_unit
    if 0.9 <= literal <= 1.1:
        return literal, None
    for value, how in ((scale, "as a plain grid scale (units converted implicitly)"),
                       (map_unit / (scale * project_unit), "as the inverse of the standard's")):
        if 0.9 <= value <= 1.1:
            return value, (f"Scale {scale:g} with a project unit of {project_unit:g} m and a map "
                           f"unit of {map_unit:g} m would give a metric scale of {literal:g}; "
                           f"read {how}: {value:g}")
    return literal, (f"Scale {scale:g} gives a metric scale of {literal:g}, far from 1: "
                     "check the IfcMapConversion")


def _x_axis_angle(abscissa: Any, ordinate: Any) -> float:
    """Angle of the local X axis from map east; (1, 0) when neither is given."""
    a = float(abscissa) if abscissa is not None else None
    o = float(ordinate) if ordinate is not None else None
    if a is None and o is None or (not a and not o):
        return 0.0
    return math.atan2(o or 0.0, a or 0.0)


def _crs_from_name(name: Any, source: str, override: CRS | None) -> CRS:
    if override is not None:
        return override
    try:
        return parse_crs(name, what="IfcProjectedCRS.Name")
    except (CRSError, TypeError, ValueError):
        raise ConversionError(
            f"{source}: the georeferencing names no usable CRS (IfcProjectedCRS.Name is "
            f"{name!r}); pass --crs with the CRS of its map coordinates", source=source,
        ) from None


def _true_north_rotation(model: Any) -> float:
    """Rotation (radians) that turns the context's TrueNorth onto map north."""
    for ctx in model.by_type("IfcGeometricRepresentationContext", include_subtypes=False):
        tn = getattr(ctx, "TrueNorth", None)
        if tn is not None:
            x, y = (list(tn.DirectionRatios) + [0.0, 0.0])[:2]
            if x or y:
                return math.pi / 2 - math.atan2(y, x)
    return 0.0


def read_georef(model: Any, source: str, *, crs: CRS | None = None,
                origin: tuple[float, ...] | None = None, rotation: float | None = None,
                twin_crs: CRS | None = None) -> Georef:
    """The georeferencing of an open IFC ``model`` (see the module docs).

    ``crs`` (``--crs``) names the CRS of the map coordinates; ``origin``
    ``(x, y[, z])`` in that CRS (default: the twin's) and ``rotation``
    (degrees, anticlockwise from east) override what the file says.
    """
    import ifcopenshell.util.element as ue
    import ifcopenshell.util.unit as uu

    project_unit = float(uu.calculate_unit_scale(model))
    if origin is not None:
        target = crs or twin_crs
        if target is None:
            raise ConversionError(f"{source}: --origin needs --crs", source=source)
        o = (tuple(float(v) for v in origin) + (0.0,))[:3]
        return Georef("user (--origin/--rotation)", target, o,
                      math.radians(rotation or 0.0))
    if rotation is not None:
        raise ConversionError(f"{source}: --rotation needs --origin", source=source)

    if model.schema != "IFC2X3":
        for op in model.by_type("IfcCoordinateOperation"):
            target = op.TargetCRS
            if op.is_a("IfcMapConversion"):
                map_unit = _unit_metres(getattr(target, "MapUnit", None)) or project_unit
                scale, note = _metric_scale(float(op.Scale or 1.0), project_unit, map_unit)
                fx = float(getattr(op, "FactorX", 1.0) or 1.0)
                rot = _x_axis_angle(op.XAxisAbscissa, op.XAxisOrdinate)
                return Georef(
                    op.is_a(), _crs_from_name(getattr(target, "Name", None), source, crs),
                    (map_unit * float(op.Eastings), map_unit * float(op.Northings),
                     map_unit * float(op.OrthogonalHeight or 0.0)),
                    rot, scale * fx, (note,) if note else ())
            if op.is_a("IfcRigidOperation"):
                first = float(op.FirstCoordinate.wrappedValue)
                second = float(op.SecondCoordinate.wrappedValue)
                height = float(op.Height or 0.0)
                if target is not None and target.is_a("IfcGeographicCRS") and crs is None:
                    return Georef("IfcRigidOperation (geographic)", local_tm(second, first),
                                  (0.0, 0.0, height),
                                  notes=(f"origin at longitude {first}, latitude {second} of "
                                         f"{target.Name}; local transverse Mercator",))
                map_unit = _unit_metres(getattr(target, "MapUnit", None)) or project_unit
                return Georef("IfcRigidOperation",
                              _crs_from_name(getattr(target, "Name", None), source, crs),
                              (map_unit * first, map_unit * second, map_unit * height))
    else:
        projects = model.by_type("IfcProject")
        conv = ue.get_pset(projects[0], "ePSet_MapConversion") if projects else None
        if conv:
            pcrs = ue.get_pset(projects[0], "ePSet_ProjectedCRS") or {}
            scale, note = _metric_scale(float(conv.get("Scale") or 1.0), project_unit, 1.0)
            rot = _x_axis_angle(conv.get("XAxisAbscissa"), conv.get("XAxisOrdinate"))
            return Georef(
                "ePSet_MapConversion (IFC2X3)", _crs_from_name(pcrs.get("Name"), source, crs),
                (float(conv.get("Eastings") or 0.0), float(conv.get("Northings") or 0.0),
                 float(conv.get("OrthogonalHeight") or 0.0)),
                rot, scale, (note,) if note else ())

    for site in model.by_type("IfcSite"):
        lat, lon = compound_angle(site.RefLatitude), compound_angle(site.RefLongitude)
        if lat is None or lon is None or (lat == 0 and lon == 0):
            continue
        if crs is not None:
            raise ConversionError(
                f"{source}: --crs names the CRS of map coordinates, but this model is placed "
                "by IfcSite latitude/longitude only; give --origin too, or leave out --crs",
                source=source)
        placed = local_origin(site, project_unit)
        site_origin = placed if placed is not None else np.zeros(3)
        rot = _true_north_rotation(model)
        elev = float(site.RefElevation or 0.0) * project_unit
        # the site origin sits at (0, 0, elev) of the local projection
        c, s = math.cos(rot), math.sin(rot)
        ox = -(c * site_origin[0] - s * site_origin[1])
        oy = -(s * site_origin[0] + c * site_origin[1])
        return Georef("IfcSite RefLatitude/RefLongitude with TrueNorth", local_tm(lat, lon),
                      (ox, oy, elev - site_origin[2]), rot,
                      notes=(f"site at latitude {lat:.7f}, longitude {lon:.7f}, elevation "
                             f"{elev:g} m; true north {math.degrees(rot):.3f} deg from local Y",))
    raise ConversionError(
        f"{source}: the model is not georeferenced (no IfcMapConversion, ePSet_MapConversion "
        "or IfcSite RefLatitude/RefLongitude); pass --origin X,Y[,Z] (and --rotation DEG, "
        "--crs) to place it", source=source)

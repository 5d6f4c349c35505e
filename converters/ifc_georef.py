"""Where an IFC model lies on Earth: its georeferencing, read in a fixed order.

A BIM model is drawn in a local engineering coordinate system (metres or
millimetres from a project origin). How that system maps to a CRS is
written in one of several places, depending on the schema and the
authoring tool. Every one of them present in the file is read; the first
in this order places the model:

1. ``IfcMapConversion`` (IFC4 and later; ``IfcMapConversionScaled`` too) to
   an ``IfcProjectedCRS``: eastings, northings and orthogonal height of the
   local origin, the direction of the local X axis in the map
   (``XAxisAbscissa``, ``XAxisOrdinate``) and a scale.
   ``IfcRigidOperation`` (IFC4.3) gives the origin only, possibly as
   longitude/latitude of an ``IfcGeographicCRS``.
2. The IFC2X3 convention of the buildingSMART georeferencing guide: the same
   values in the property sets ``ePSet_MapConversion`` and
   ``ePSet_ProjectedCRS``, on the ``IfcProject`` or on the ``IfcSite``
   (where the guide's examples and Revit's exporter put them). The names
   are matched without regard to case (``ePset_...`` is common).
3. ``IfcSite.RefLatitude``/``RefLongitude``/``RefElevation`` with the
   context's ``TrueNorth``: the site origin is placed at that point of a
   local transverse Mercator projection and the model is turned so that its
   true north points north. Good to a few centimetres over a building, but
   often a default of the authoring tool (the office's city) rather than
   the site: a map conversion, where there is one, wins.
4. The user's ``--origin``/``--rotation`` (and ``--crs``) override all of
   them.

The sources that were not used are kept as :attr:`Georef.alternatives`, so
that the import summary can say where each would have put the model (a
file whose map conversion and site latitude disagree by 3,000 km is worth
a look).

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
from pyproj import CRS, Geod
from pyproj.exceptions import ProjError

from twin.crs import make_transformer, parse_crs
from twin.errors import ConversionError, CRSError

from .ifc_attributes import length_unit_scale

_WGS84 = CRS.from_epsg(4326)
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Georef:
    """A local-to-map transformation.

    ``origin`` (3,) is where the local origin lies in ``crs`` (metres);
    ``rotation`` is the angle of the local X axis from map east,
    anticlockwise, in radians; ``scale`` multiplies plan distances.
    ``alternatives`` are the other georeferencing sources found in the file,
    in their order of precedence (each without alternatives of its own).
    """

    method: str
    crs: CRS
    origin: tuple[float, float, float]
    rotation: float = 0.0
    scale: float = 1.0
    notes: tuple[str, ...] = ()
    alternatives: tuple[Georef, ...] = ()

    def to_map(self, xyz: np.ndarray) -> np.ndarray:
        """``xyz (n, 3)`` local metres -> ``(n, 3)`` map coordinates in :attr:`crs`."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        out = np.empty_like(xyz)
        out[:, 0] = self.origin[0] + self.scale * (c * xyz[:, 0] - s * xyz[:, 1])
        out[:, 1] = self.origin[1] + self.scale * (s * xyz[:, 0] + c * xyz[:, 1])
        out[:, 2] = self.origin[2] + xyz[:, 2]
        return out

    def origin_lonlat(self) -> tuple[float, float] | None:
        """Longitude and latitude (WGS 84) of the local origin; ``None`` when
        the CRS cannot be transformed to WGS 84."""
        try:
            tr = make_transformer(self.crs, _WGS84)
            lon, lat = tr.transform(self.origin[0], self.origin[1], errcheck=True)
        except ProjError:
            return None
        return (lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None

    def origin_in(self, crs: CRS) -> tuple[float, float] | None:
        """The local origin in ``crs`` (plan); ``None`` where it cannot be transformed."""
        if crs == self.crs:
            return float(self.origin[0]), float(self.origin[1])
        try:
            # the import places every vertex with this transformer: made once (PROJ
            # takes a third of a second to make one), kept per thread
            tr = make_transformer(self.crs, crs)
            x, y = tr.transform(self.origin[0], self.origin[1], errcheck=True)
        except ProjError:
            return None
        return (x, y) if math.isfinite(x) and math.isfinite(y) else None

    def describe(self, twin_crs: CRS | None = None) -> dict[str, Any]:
        """A JSON-able account: method, CRS, origin, rotation, scale, notes and,
        given the twin's CRS, where the origin lies in it and where each
        alternative would have put it (``twin_xy``, ``distance_m`` from
        this placement along the ellipsoid)."""
        out: dict[str, Any] = {
            "method": self.method, "crs": crs_label(self.crs),
            "origin": [round(v, 4) for v in self.origin],
            "rotation_deg": round(math.degrees(self.rotation), 6),
            "scale": self.scale, "notes": list(self.notes),
        }
        if twin_crs is None:
            return out
        here = self.origin_in(twin_crs)
        out["twin_xy"] = [round(v, 3) for v in here] if here is not None else None
        ll = self.origin_lonlat()
        alts = []
        for alt in self.alternatives:
            xy = alt.origin_in(twin_crs)
            other = alt.origin_lonlat()
            dist = (_GEOD.inv(ll[0], ll[1], other[0], other[1])[2]
                    if ll is not None and other is not None else None)
            alts.append({"method": alt.method, "crs": crs_label(alt.crs),
                         "twin_xy": [round(v, 3) for v in xy] if xy is not None else None,
                         "distance_m": round(dist, 3) if dist is not None else None})
        out["alternatives"] = alts
        return out


def crs_label(crs: CRS) -> str:
    """``crs.to_string()``, without PROJ's search of its whole database for an
    authority code when the CRS was made from a PROJ string (over a second
    for the transverse Mercator of a site's latitude/longitude, which none
    matches): such a CRS is labelled by its string (``to_string`` would name
    the authority code of an EPSG CRS written as a PROJ string).

    >>> crs_label(local_tm(49.1, 8.43)).startswith("+proj=tmerc +lat_0=49.1")
    True
    >>> crs_label(CRS.from_user_input("EPSG:31467"))
    'EPSG:31467'
    """
    srs = crs.srs or ""
    return srs if srs.startswith("+proj=") else crs.to_string()


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


def _crs_from_name(name: Any, source: str, override: CRS | None, where: str) -> CRS:
    if override is not None:
        return override
    try:
        return parse_crs(name, what=where)
    except (CRSError, TypeError, ValueError):
        raise ConversionError(
            f"{source}: the georeferencing names no usable CRS ({where} is "
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


def _number(value: Any, default: float = 0.0) -> float:
    """A property value as a float (property sets hold numbers, at times as text)."""
    if value is None or value == "":
        return default
    return float(value)


def _pset(entity: Any, name: str) -> dict[str, Any] | None:
    """The property set ``name`` of ``entity``, matched without regard to case."""
    import ifcopenshell.util.element as ue

    want = name.lower()
    # only an IfcObject has a type to inherit sets from (IFC4's IfcProject is an
    # IfcContext: asking it for IsTypedBy would load the schema's rules, 30 ms)
    for set_name, props in ue.get_psets(entity, should_inherit=entity.is_a("IfcObject")).items():
        if set_name.lower() == want:
            return props
    return None


def _from_operations(model: Any, source: str, crs: CRS | None,
                     project_unit: float) -> list[Georef]:
    """IFC4 and later: ``IfcMapConversion`` and ``IfcRigidOperation``."""
    out: list[Georef] = []
    if model.schema == "IFC2X3":
        return out
    for op in model.by_type("IfcCoordinateOperation"):
        target = op.TargetCRS
        if op.is_a("IfcMapConversion"):
            map_unit = _unit_metres(getattr(target, "MapUnit", None)) or project_unit
            scale, note = _metric_scale(float(op.Scale or 1.0), project_unit, map_unit)
            fx = float(getattr(op, "FactorX", 1.0) or 1.0)
            rot = _x_axis_angle(op.XAxisAbscissa, op.XAxisOrdinate)
            out.append(Georef(
                op.is_a(), _crs_from_name(getattr(target, "Name", None), source, crs,
                                          "IfcProjectedCRS.Name"),
                (map_unit * float(op.Eastings), map_unit * float(op.Northings),
                 map_unit * float(op.OrthogonalHeight or 0.0)),
                rot, scale * fx, (note,) if note else ()))
        elif op.is_a("IfcRigidOperation"):
            first = float(op.FirstCoordinate.wrappedValue)
            second = float(op.SecondCoordinate.wrappedValue)
            height = float(op.Height or 0.0)
            if target is not None and target.is_a("IfcGeographicCRS") and crs is None:
                out.append(Georef("IfcRigidOperation (geographic)", local_tm(second, first),
                                  (0.0, 0.0, height),
                                  notes=(f"origin at longitude {first}, latitude {second} of "
                                         f"{target.Name}; local transverse Mercator",)))
                continue
            map_unit = _unit_metres(getattr(target, "MapUnit", None)) or project_unit
            out.append(Georef("IfcRigidOperation",
                              _crs_from_name(getattr(target, "Name", None), source, crs,
                                             "IfcProjectedCRS.Name"),
                              (map_unit * first, map_unit * second, map_unit * height)))
    return out


def _from_property_sets(model: Any, source: str, crs: CRS | None,
                        project_unit: float) -> list[Georef]:
    """The buildingSMART guide's IFC2X3 convention: ``ePSet_MapConversion`` and
    ``ePSet_ProjectedCRS`` on the IfcProject, or on an IfcSite."""
    out: list[Georef] = []
    holders = [("IfcProject", e) for e in model.by_type("IfcProject")]
    holders += [("IfcSite", e) for e in model.by_type("IfcSite")]
    for kind, holder in holders:
        conv = _pset(holder, "ePSet_MapConversion")
        if not conv:
            continue
        pcrs = _pset(holder, "ePSet_ProjectedCRS") or {}
        where = f"ePSet_ProjectedCRS.Name on the {kind}"
        try:
            scale, note = _metric_scale(_number(conv.get("Scale"), 1.0), project_unit, 1.0)
            rot = _x_axis_angle(conv.get("XAxisAbscissa"), conv.get("XAxisOrdinate"))
            origin = (_number(conv.get("Eastings")), _number(conv.get("Northings")),
                      _number(conv.get("OrthogonalHeight")))
        except (TypeError, ValueError):
            raise ConversionError(
                f"{source}: ePSet_MapConversion on the {kind} holds values that are not "
                f"numbers ({ {k: conv.get(k) for k in ('Eastings', 'Northings', 'Scale')} }); "
                "fix them or pass --origin", source=source) from None
        out.append(Georef(f"ePSet_MapConversion on the {kind}",
                          _crs_from_name(pcrs.get("Name"), source, crs, where),
                          origin, rot, scale, (note,) if note else ()))
    return out


def _from_site_latitude(model: Any, project_unit: float) -> list[Georef]:
    """``IfcSite.RefLatitude``/``RefLongitude`` with the context's TrueNorth."""
    for site in model.by_type("IfcSite"):
        lat, lon = compound_angle(site.RefLatitude), compound_angle(site.RefLongitude)
        if lat is None or lon is None or (lat == 0 and lon == 0):
            continue
        placed = local_origin(site, project_unit)
        site_origin = placed if placed is not None else np.zeros(3)
        rot = _true_north_rotation(model)
        elev = float(site.RefElevation or 0.0) * project_unit
        # the site origin sits at (0, 0, elev) of the local projection
        c, s = math.cos(rot), math.sin(rot)
        ox = -(c * site_origin[0] - s * site_origin[1])
        oy = -(s * site_origin[0] + c * site_origin[1])
        return [Georef(SITE_LATLON, local_tm(lat, lon), (ox, oy, elev - site_origin[2]), rot,
                       notes=(f"site at latitude {lat:.7f}, longitude {lon:.7f}, elevation "
                              f"{elev:g} m; true north {math.degrees(rot):.3f} deg from "
                              "local Y",))]
    return []


#: The method name of a placement by IfcSite latitude/longitude.
SITE_LATLON = "IfcSite RefLatitude/RefLongitude with TrueNorth"


def read_georef(model: Any, source: str, *, crs: CRS | None = None,
                origin: tuple[float, ...] | None = None, rotation: float | None = None,
                twin_crs: CRS | None = None) -> Georef:
    """The georeferencing of an open IFC ``model`` (see the module docs), with
    the other sources found in the file as its ``alternatives``.

    ``crs`` (``--crs``) names the CRS of the map coordinates; ``origin``
    ``(x, y[, z])`` in that CRS (default: the twin's) and ``rotation``
    (degrees, anticlockwise from east) override what the file says.
    """
    project_unit = length_unit_scale(model)
    if origin is None and rotation is not None:
        raise ConversionError(f"{source}: --rotation needs --origin", source=source)
    if origin is not None and (crs or twin_crs) is None:
        raise ConversionError(f"{source}: --origin needs --crs", source=source)
    # a map conversion naming no usable CRS is an error, not a reason to fall
    # back on the site's latitude (which is how models end up on another continent)
    found: list[Georef] = []
    for read in (_from_operations, _from_property_sets):
        try:
            found += read(model, source, crs, project_unit)
        except ConversionError:
            if origin is None:
                raise
    found += _from_site_latitude(model, project_unit)
    if origin is not None:
        o = (tuple(float(v) for v in origin) + (0.0,))[:3]
        return Georef("user (--origin/--rotation)", crs or twin_crs, o,  # type: ignore[arg-type]
                      math.radians(rotation or 0.0), alternatives=tuple(found))
    if not found:
        raise ConversionError(
            f"{source}: the model is not georeferenced (no IfcMapConversion, "
            "ePSet_MapConversion or IfcSite RefLatitude/RefLongitude); pass --origin X,Y[,Z] "
            "(and --rotation DEG, --crs) to place it", source=source)
    chosen, rest = found[0], tuple(found[1:])
    if chosen.method == SITE_LATLON and crs is not None:
        raise ConversionError(
            f"{source}: --crs names the CRS of map coordinates, but this model is placed "
            "by IfcSite latitude/longitude only; give --origin too, or leave out --crs",
            source=source)
    return Georef(chosen.method, chosen.crs, chosen.origin, chosen.rotation, chosen.scale,
                  chosen.notes, rest)

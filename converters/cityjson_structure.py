"""Why a city object's geometry cannot be read, in words.

The converter reads boundaries fast (:mod:`converters.cityjson_geometry`):
it lets Python and numpy fail where a file is not nested as its geometry
type needs (a number where a ring should be, semantics that are no JSON
object). When such a failure happens, :func:`geometry_problem` walks the
object's geometries explicitly and says what is wrong and where. When the
walk finds nothing wrong, the failure was not the file's fault but a bug
of the converter, and the converter lets it propagate as one: only what
this walk can name becomes a reason to skip an object.

How CityJSON nests boundaries (each level a JSON array)::

    MultiPoint       [vertex, ...]
    MultiLineString  [line: [vertex, ...], ...]
    MultiSurface     [surface: [ring: [vertex, ...], ...], ...]   (CompositeSurface too)
    Solid            [shell: [surface, ...], ...]     (the first shell outer, others voids)
    MultiSolid       [solid: [shell, ...], ...]       (CompositeSolid too)

Semantic values follow the same nesting down to the surface (one index
into ``semantics.surfaces`` per surface, or ``null``), and any level may be
``null`` for "no semantics here". A ``GeometryInstance`` places one of the
file's ``geometry-templates`` by a 4x4 ``transformationMatrix`` at one
reference vertex (its ``boundaries``: ``[vertex]``).
"""

from __future__ import annotations

from numbers import Real
from typing import Any, TypeGuard

from twin.errors import ConversionError

#: What each level of a geometry type's boundaries holds, outermost first.
LEVELS = {
    "MultiPoint": ("vertex index",),
    "MultiLineString": ("line", "vertex index"),
    "MultiSurface": ("surface", "ring", "vertex index"),
    "CompositeSurface": ("surface", "ring", "vertex index"),
    "Solid": ("shell", "surface", "ring", "vertex index"),
    "MultiSolid": ("solid", "shell", "surface", "ring", "vertex index"),
    "CompositeSolid": ("solid", "shell", "surface", "ring", "vertex index"),
}

#: Levels of semantic values above the surfaces' indices.
VALUE_LEVELS = {"MultiSurface": 1, "CompositeSurface": 1, "Solid": 2, "MultiSolid": 3,
                "CompositeSolid": 3}


class GeometryUnreadable(ConversionError):
    """One city object's geometry cannot be read; the object is skipped with
    this message as its reason, the rest of the file is converted."""


def geometry_problem(geoms: Any, templates: Any) -> tuple[int, str | None, str] | None:
    """What is wrong with a city object's ``geometry`` list, as ``(index of
    the geometry, its type, what is wrong)`` (index -1: the list itself), or
    ``None`` when its nesting is as CityJSON says. ``templates`` is the file's
    ``geometry-templates`` (or ``None``)."""
    if not isinstance(geoms, list):
        return -1, None, f"\"geometry\" is {_what(geoms)}, not a list"
    for k, g in enumerate(geoms):
        gtype = g.get("type") if isinstance(g, dict) else None
        why = _problem(g, templates, top=True)
        if why is not None:
            return k, gtype if isinstance(gtype, str) else None, why
    return None


def _problem(g: Any, templates: Any, top: bool) -> str | None:
    if not isinstance(g, dict):
        return f"the geometry is {_what(g)}, not a JSON object"
    gtype = g.get("type")
    if gtype == "GeometryInstance" and top:
        return _instance_problem(g, templates)
    if not isinstance(gtype, str) or gtype not in LEVELS:
        return None  # not read: left out and counted by the converter
    why = _nesting(g.get("boundaries"), LEVELS[gtype], gtype)
    if why is not None:
        return why
    if "semantics" in g and g["semantics"] is not None:
        return _semantics_problem(g["semantics"], gtype)
    return None


def _instance_problem(g: dict, templates: Any) -> str | None:
    tpls = templates.get("templates") if isinstance(templates, dict) else None
    if not isinstance(tpls, list):
        return "a GeometryInstance, but the file has no \"geometry-templates\" with templates"
    t = g.get("template")
    if not _is_int(t) or not 0 <= t < len(tpls):
        return f"template {t!r} is not one of the file's {len(tpls)} templates"
    m = g.get("transformationMatrix")
    if not (isinstance(m, list) and len(m) == 16 and all(_is_number(x) for x in m)):
        return "\"transformationMatrix\" is not a list of 16 numbers"
    b = g.get("boundaries")
    if not (isinstance(b, list) and len(b) == 1 and _is_int(b[0])):
        return f"the boundaries of a GeometryInstance are one vertex index ([i]), not {b!r:.60}"
    why = _problem(tpls[t], None, top=False)
    return None if why is None else f"its template {t}: {why}"


def _nesting(b: Any, levels: tuple[str, ...], gtype: str) -> str | None:
    """The first place where ``b`` is not nested as ``levels`` say."""
    if not isinstance(b, list):
        return (f"its boundaries are not nested as a {gtype} needs: boundaries is {_what(b)}, "
                f"where a list of {levels[0]}s should be")
    return _nesting_below(b, 0, "boundaries", levels, gtype)


def _nesting_below(node: list, depth: int, path: str, levels: tuple[str, ...], gtype: str
                   ) -> str | None:
    leaf = depth == len(levels) - 1
    for i, x in enumerate(node):
        here = f"{path}[{i}]"
        if leaf:
            if not _is_int(x):
                return f"{here} is {_what(x)}, where a vertex index (an integer) should be"
        elif not isinstance(x, list):
            return (f"its boundaries are not nested as a {gtype} needs: {here} is {_what(x)}, "
                    f"where a {levels[depth]} (a list of {levels[depth + 1]}s) should be")
        else:
            why = _nesting_below(x, depth + 1, here, levels, gtype)
            if why is not None:
                return why
    return None


def _semantics_problem(sem: Any, gtype: str) -> str | None:
    if not isinstance(sem, dict):
        return f"its semantics are {_what(sem)}, not a JSON object"
    surfaces = sem.get("surfaces", [])
    if not isinstance(surfaces, list):
        return f"semantics.surfaces is {_what(surfaces)}, not a list"
    for i, s in enumerate(surfaces):
        if not isinstance(s, dict):
            return f"semantics.surfaces[{i}] is {_what(s)}, not a JSON object"
    levels = VALUE_LEVELS.get(gtype)
    if levels is None:  # points and lines: their semantics are not read
        return None
    return _values_below(sem.get("values"), 0, "semantics.values", levels)


def _values_below(node: Any, depth: int, path: str, levels: int) -> str | None:
    if node is None:
        return None
    if depth == levels:
        return None if _is_int(node) else (
            f"{path} is {_what(node)}, where a semantic value (an integer) should be")
    if not isinstance(node, list):
        return f"{path} is {_what(node)}, where a list (or null) should be"
    for i, x in enumerate(node):
        why = _values_below(x, depth + 1, f"{path}[{i}]", levels)
        if why is not None:
            return why
    return None


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _what(x: Any) -> str:
    """A value as an error message names it: its JSON kind and a short glimpse."""
    if x is None:
        return "null"
    kind = ("a list" if isinstance(x, list) else "an object" if isinstance(x, dict)
            else "a text" if isinstance(x, str) else "a boolean" if isinstance(x, bool)
            else "a number" if isinstance(x, Real) else type(x).__name__)
    text = repr(x)
    return f"{kind} ({text[:40]}{'...' if len(text) > 40 else ''})"

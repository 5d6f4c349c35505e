"""One builder for every pipe format: plain node and link tables in, features out.

EPANET and SWMM models, LandXML pipe networks, CJJ 61 survey tables and GIS
line layers all describe the same two things:

* **nodes** (junctions, manholes, valves, reservoirs, outfalls) at a plan
  position, with the height of the ground or rim they stand on and,
  for chambers, the shaft below;
* **links** (pipes, conduits, ditches, pumps, valves, weirs) that join a start
  node to an end node, through plan vertices, with a cross-section and the
  height of their centreline at each end.

Each format module parses its file into :class:`NodeRow` and :class:`LinkRow`
tables (already in the twin CRS, heights in metres) and hands them to
:func:`build_network`, which makes the twin features the same way for all:

* ids from one :class:`NetworkIds` (``<prefix>:node:<name>``, ...), and one
  :class:`~twin.model.Edge` per link naming its two node ids in the network;
* a node is a point (with Z where its ground is known) and, with a shaft, a
  cylinder or box from the shaft bottom up to the ground;
* a link's centreline runs from its start node through its vertices to its
  end node, its height graded linearly by plan distance between the two end
  heights (a pipe laid at constant slope); the cross-section is swept along
  it (an open channel as an open trough). Without both end heights the line
  stays 2D, without a mesh, and says ``depth_source=unknown``;
* what cannot be built is skipped with its reason (a node that is missing,
  coordinates that are not finite, plausible numbers); a pipe of zero length
  in plan is kept (without a mesh unless it is vertical) and counted, so
  that :func:`twin.network.validate_network` reports it;
  a pump or valve whose two nodes coincide in plan (common in EPANET
  models) becomes a point device in ``pipe_nodes``, still a link of the
  network, instead of being lost.

The builder also counts where the heights of the link ends came from
(``line_ends_by_depth_source``) and :func:`pipe_notes` says what the counts
mean, for every pipe format alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry import LineString, Point

from twin.errors import GeometryError
from twin.geometry import (
    box_mesh,
    circle_profile,
    cylinder,
    graded_polyline,
    polyline_pipe,
    rect_profile,
    sweep_segments,
)
from twin.model import Edge, Feature, Mesh

from .base import ConversionContext
from .report import Note

#: Largest coordinate magnitude a converter accepts at all: beyond it a float
#: keeps no metre precision, so the value is garbage (an overflow, a byte
#: error). Whether a usable coordinate lies where the twin's CRS belongs is
#: the importer's placement check (converters/placement.py), for every format.
MAX_PLAN_COORDINATE = 1e15
#: The same bound for heights.
MAX_HEIGHT = 1e15
#: Sides of a round pipe's swept section.
ROUND_SIDES = 12
#: Link types that are devices rather than conduits: a device between two
#: coincident nodes is kept as a point.
DEVICE_TYPES = ("Pump", "Valve", "Orifice", "Weir", "Outlet")


@dataclass(frozen=True)
class Section:
    """A link's cross-section in metres: round (``diameter``), rectangular
    (``width`` x ``height``) or an open channel (trapezoid ``width`` at the
    top, ``bottom_width`` at the invert, ``height`` deep; a V ditch has a
    bottom width of 0)."""

    diameter: float | None = None
    width: float | None = None
    height: float | None = None
    bottom_width: float | None = None
    open: bool = False

    @classmethod
    def round(cls, diameter: float) -> Section | None:
        """A round section, or ``None`` for a size that is not positive."""
        return cls(diameter=float(diameter)) if diameter and diameter > 0 else None

    @classmethod
    def rect(cls, width: float, height: float) -> Section | None:
        return cls(width=float(width), height=float(height)) if (
            width and height and width > 0 and height > 0) else None

    @classmethod
    def channel(cls, top_width: float, height: float, bottom_width: float = 0.0
                ) -> Section | None:
        if not (top_width and height and top_width > 0 and height > 0):
            return None
        return cls(width=float(top_width), height=float(height),
                   bottom_width=max(float(bottom_width or 0.0), 0.0), open=True)

    @property
    def half_height(self) -> float:
        return (self.diameter if self.diameter is not None else self.height or 0.0) / 2

    def width_height(self) -> tuple[float, float]:
        """``(width, height)`` of a rectangular section or an open channel
        (the constructors set both whenever there is no diameter)."""
        if self.width is None or self.height is None:
            raise RuntimeError(f"{self} has neither a diameter nor a width and a height")
        return float(self.width), float(self.height)

    def profile(self) -> np.ndarray:
        """``(s, 2)`` offsets (across, up) around the centreline."""
        if self.diameter is not None:
            return circle_profile(self.diameter / 2, ROUND_SIDES)
        w, h = self.width_height()
        if not self.open:
            return rect_profile(w, h)
        b = float(self.bottom_width or 0.0)
        bottom = [(-b / 2, -h / 2), (b / 2, -h / 2)] if b > 0 else [(0.0, -h / 2)]
        return np.array([(-w / 2, h / 2), *bottom, (w / 2, h / 2)], float)

    def attributes(self) -> dict[str, Any]:
        if self.diameter is not None:
            return {"diameter_mm": round(self.diameter * 1000, 3)}
        w, h = self.width_height()
        out: dict[str, Any] = {"width_mm": round(w * 1000, 3), "height_mm": round(h * 1000, 3)}
        if self.open:
            out["bottom_width_mm"] = round(float(self.bottom_width or 0.0) * 1000, 3)
            out["section"] = "open channel"
        return out


def centre_from_invert(invert: float | None, section: Section | None) -> float | None:
    """Centreline height of a pipe whose inner bottom (invert) is ``invert``."""
    if invert is None:
        return None
    return invert + (section.half_height if section else 0.0)


def centre_below_cover(ground: float | None, cover: float | None, section: Section | None
                       ) -> float | None:
    """Centreline height of a pipe with ``cover`` metres of soil above its top."""
    if ground is None or cover is None:
        return None
    return ground - cover - (section.half_height if section else 0.0)


@dataclass(frozen=True)
class Shaft:
    """The chamber under a node: from ``bottom`` up to the node's ground, round
    (``Section.round``) or rectangular (``Section.rect``, length x width)."""

    bottom: float
    section: Section
    assumed: bool = False


@dataclass(frozen=True)
class NodeRow:
    """One node in the twin CRS: ``z`` is the height of the ground or rim it
    stands on (``None``: unknown, the point stays 2D)."""

    name: str
    type: str
    x: float
    y: float
    z: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    shaft: Shaft | None = None
    label: str | None = None


@dataclass(frozen=True)
class LinkRow:
    """One link between two nodes, heights of its centreline at each end.

    ``vertices`` ``(k, 2)`` are plan points between the two nodes (twin CRS).
    ``geometry`` ``(n, 2)`` or ``(n, 3)`` gives the whole centreline instead
    (GIS lines, whose ends are not node positions); its Z, if any, is used
    as it is. ``depth_source`` says where each end's height came from
    (``invert``, ``surveyed``, ``assumed``, ...), one value or one per end.
    ``network`` overrides the builder's network for this link.
    """

    name: str
    type: str
    layer: str
    start: str | None
    end: str | None
    z_start: float | None = None
    z_end: float | None = None
    depth_source: str | tuple[str, str] = "unknown"
    section: Section | None = None
    vertices: np.ndarray | None = None
    geometry: np.ndarray | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    network: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class NetworkIds:
    """How one import names its features: ``<prefix>:<node part><name>`` for
    nodes and ``<prefix>:<link part><name>`` for links; ``{network}`` in a part
    stands for the link's network (the survey's ``survey:JS:<line>``).

    >>> ids = NetworkIds("epanet:Net3")
    >>> ids.node("10"), ids.link("P1")
    ('epanet:Net3:node:10', 'epanet:Net3:link:P1')
    >>> NetworkIds("survey", node_part="", link_part="{network}:").link("L1", "JS")
    'survey:JS:L1'
    """

    prefix: str
    node_part: str = "node:"
    link_part: str = "link:"

    def node(self, name: str) -> str:
        return f"{self.prefix}:{self.node_part}{name}"

    def link(self, name: str, network: str = "") -> str:
        return f"{self.prefix}:{self.link_part.format(network=network)}{name}"


def network_name(code: str | None, stem: str, part: int | str | None = None) -> str:
    """The name of one model's network: ``<CJJ 61 code>:<file stem>[:<part>]``
    (``PS:Example1``, ``YS:DrainageSystem-1-1:1``); the code first, so that
    analyses know a gravity network by its name.

    >>> network_name("YS", "storm", 2)
    'YS:storm:2'
    """
    name = f"{code}:{stem}" if code else stem
    return f"{name}:{part}" if part is not None else name


@dataclass(frozen=True)
class Vocabulary:
    """Words of a format's skip reasons: ``conduit '7': node '10' not found``."""

    link: str = "link"
    node: str = "node"
    missing: str = "is missing or was skipped"


def plausible(xyz: np.ndarray) -> np.ndarray:
    """Mask of the ``(n, 2|3)`` rows whose coordinates are finite and within
    :data:`MAX_PLAN_COORDINATE` (plan) and :data:`MAX_HEIGHT` (Z, where not nan)."""
    a = np.asarray(xyz, float)
    ok = np.all(np.isfinite(a[:, :2]), axis=1) & np.all(np.abs(np.nan_to_num(
        a[:, :2], nan=np.inf, posinf=np.inf, neginf=np.inf)) < MAX_PLAN_COORDINATE, axis=1)
    if a.shape[1] > 2:
        z = a[:, 2]
        zabs = np.abs(np.nan_to_num(z, posinf=np.inf, neginf=np.inf))
        ok &= np.isnan(z) | (np.isfinite(z) & (zabs < MAX_HEIGHT))
    return ok


def implausible_reason(what: str, xyz: Iterable[float]) -> str:
    vals = ", ".join(f"{v:g}" for v in xyz)
    return (f"{what}: coordinates ({vals}) are not finite numbers within "
            f"{MAX_PLAN_COORDINATE:g}: a unit or data error")


def open_channel_mesh(coords: np.ndarray, profile: np.ndarray) -> Mesh:
    """A trough along a 3D polyline ``(n, 3)``: ``profile`` ``(s, 2)`` swept
    without closing its last side (the open top of a ditch)."""
    c = np.asarray(coords, float)
    keep = np.concatenate([[True], np.any(np.diff(c, axis=0) != 0, axis=1)])
    c = c[keep]
    if len(c) < 2:
        raise GeometryError("channel centreline has fewer than two distinct points")
    verts, faces = sweep_segments(c[:-1], c[1:], profile)
    s = len(profile)
    faces = faces[np.concatenate([np.arange(s - 1), s + np.arange(s - 1)])]  # no closing side
    k, nv = verts.shape[0], verts.shape[1]
    all_faces = (faces[None, :, :] + (np.arange(k) * nv)[:, None, None]).reshape(-1, 3)
    return Mesh(verts.reshape(-1, 3), all_faces)


def section_mesh(coords: np.ndarray, section: Section) -> Mesh:
    """The swept mesh of ``section`` along a 3D centreline ``(n, 3)``."""
    if section.open:
        return open_channel_mesh(coords, section.profile())
    return polyline_pipe(coords, section.profile())


def _shaft_mesh(node: NodeRow) -> Mesh | None:
    s = node.shaft
    if s is None or node.z is None or not node.z > s.bottom:
        return None
    if s.section.diameter is not None:
        return cylinder((node.x, node.y), s.bottom, node.z, s.section.diameter / 2)
    ln, wd = s.section.width_height()
    return box_mesh((node.x - ln / 2, node.y - wd / 2, s.bottom),
                    (node.x + ln / 2, node.y + wd / 2, node.z))


def node_feature(node: NodeRow, ids: NetworkIds, network: str | None) -> Feature:
    attrs = dict(node.attributes)
    if network and "network" not in attrs:
        attrs["network"] = network
    meshes = {}
    mesh = _shaft_mesh(node)
    if mesh is not None:
        meshes["1"] = mesh
        if node.shaft is not None and node.shaft.assumed:
            attrs.setdefault("size_source", "assumed")
    geom = Point(node.x, node.y, node.z) if node.z is not None else Point(node.x, node.y)
    return Feature(id=ids.node(node.name), layer="pipe_nodes", type=node.type, name=node.label,
                   footprint=geom, attributes=attrs, meshes=meshes, source_id=node.name)


def _depth_source(link: LinkRow) -> tuple[str, str]:
    ds = link.depth_source
    return (ds, ds) if isinstance(ds, str) else (ds[0], ds[1])


@dataclass
class NetworkBuilder:
    """Makes the features of one network (see the module docstring)."""

    ctx: ConversionContext
    ids: NetworkIds
    network: str | None
    words: Vocabulary = field(default_factory=Vocabulary)
    positions: dict[str, tuple[float, float, float | None]] = field(default_factory=dict)
    ends: Counter = field(default_factory=Counter)
    devices_as_points: int = 0
    zero_length: int = 0

    def nodes(self, rows: Iterable[NodeRow]) -> Iterator[Feature]:
        for node in rows:
            xyz = (node.x, node.y, np.nan if node.z is None else node.z)
            if not plausible(np.array([xyz]))[0]:
                self.ctx.skip(node.name, implausible_reason(
                    f"{self.words.node} {node.name!r}", xyz))
                continue
            if node.name in self.positions:
                self.ctx.skip(node.name, f"{self.words.node} {node.name!r} appears twice; "
                                         "the first is kept")
                continue
            self.positions[node.name] = (node.x, node.y, node.z)
            yield node_feature(node, self.ids, self.network)

    def links(self, rows: Iterable[LinkRow]) -> Iterator[Feature]:
        for link in rows:
            try:
                feat = self._link(link)
            except GeometryError as exc:
                self.ctx.skip(link.name, f"{self.words.link} {link.name!r}: {exc}")
                continue
            if feat is not None:
                yield feat

    def _link(self, link: LinkRow) -> Feature | None:
        w = self.words
        network = link.network or self.network or ""
        ends: list[tuple[float, float, float | None] | None] = []
        for n in (link.start, link.end):
            if n is None or link.geometry is not None:  # a whole centreline needs no node
                ends.append(None)
                continue
            if n not in self.positions:
                self.ctx.skip(link.name, f"{w.link} {link.name!r}: {w.node} {n!r} {w.missing}")
                return None
            ends.append(self.positions[n])
        attrs = dict(link.attributes)
        if network and "network" not in attrs:
            attrs["network"] = network
        if link.section is not None:
            for k, v in link.section.attributes().items():
                attrs.setdefault(k, v)
        src = _depth_source(link)
        if link.geometry is not None:
            coords = np.asarray(link.geometry, float)
            has_z = coords.shape[1] == 3 and bool(np.all(np.isfinite(coords[:, 2])))
            plan = coords[:, :2]
            if not has_z:
                coords = plan
                src = ("unknown", "unknown")
        else:
            first, last = ends
            if first is None or last is None:  # never: the readers give such a link both nodes
                raise RuntimeError(f"{w.link} {link.name!r} has neither a centreline nor a "
                                   f"{w.node} at each end")
            mid = np.zeros((0, 2)) if link.vertices is None else np.asarray(
                link.vertices, float).reshape(-1, 2)
            plan = np.vstack([first[:2], mid, last[:2]])
            has_z = link.z_start is not None and link.z_end is not None
            coords = plan if link.z_start is None or link.z_end is None else \
                graded_polyline(plan, link.z_start, link.z_end)[0]
            if not has_z:
                src = ("unknown" if link.z_start is None else src[0],
                       "unknown" if link.z_end is None else src[1])
        ok = plausible(coords)
        if not ok.all():
            bad = coords[int(np.argmin(ok))]
            raise GeometryError(implausible_reason("centreline", bad).split(": ", 1)[1])
        plan_len = float(np.hypot(*np.diff(plan, axis=0).T).sum()) if len(plan) > 1 else 0.0
        distinct = bool(np.any(np.diff(coords, axis=0) != 0))
        if not plan_len > 0:
            if link.type in DEVICE_TYPES and link.start is not None and link.end is not None:
                return self._device(link, (link.start, link.end), coords, attrs, network)
            # kept, so that validate_network reports it; a vertical pipe still has a mesh
            self.zero_length += 1
        self.ends.update(src)
        sources = sorted(set(src))
        attrs["depth_source"] = sources[0] if len(sources) == 1 else "+".join(sources)
        meshes = {}
        if has_z and link.section is not None and distinct:
            meshes["1"] = section_mesh(coords, link.section)
        edge = (Edge(network, self.ids.node(link.start), self.ids.node(link.end))
                if link.start is not None and link.end is not None else None)
        return Feature(id=link.id or self.ids.link(link.name, network), layer=link.layer,
                       type=link.type, name=link.label, footprint=LineString(coords),
                       attributes=attrs, meshes=meshes, source_id=link.name, edge=edge)

    def _device(self, link: LinkRow, nodes: tuple[str, str], coords: np.ndarray, attrs: dict,
                network: str) -> Feature:
        """A pump or valve between two nodes at the same plan position: a point
        device in ``pipe_nodes`` that is still a link of the network."""
        self.devices_as_points += 1
        x, y = coords[0, :2]
        z = coords[0, 2] if coords.shape[1] == 3 else None
        attrs["between_coincident_nodes"] = True
        return Feature(id=link.id or self.ids.link(link.name, network), layer="pipe_nodes",
                       type=link.type, name=link.label,
                       footprint=Point(x, y, z) if z is not None else Point(x, y),
                       attributes=attrs, source_id=link.name,
                       edge=Edge(network, self.ids.node(nodes[0]), self.ids.node(nodes[1])))

    def record(self) -> None:
        """Add this network's counts to the import report."""
        rep = self.ctx.report
        if self.ends:
            mine = rep.setdefault("line_ends_by_depth_source", {})
            for k, v in self.ends.items():
                mine[k] = mine.get(k, 0) + v
        for key in ("devices_as_points", "zero_length"):
            if getattr(self, key):
                rep[f"{key}_links" if key == "zero_length" else key] = rep.get(
                    f"{key}_links" if key == "zero_length" else key, 0) + getattr(self, key)


def pipe_notes(src: Mapping[str, Any]) -> list[Note]:
    """What the pipe builder's counts mean, for every pipe format."""
    out: list[Note] = []
    ends = src.get("line_ends_by_depth_source")
    if ends:
        out.append(Note("line-end heights from: " + ", ".join(
            f"{k} {v}" for k, v in sorted(ends.items())),
            "warn" if ("assumed" in ends or "unknown" in ends) else "info"))
        if ends.get("unknown"):
            out.append(Note(f"{ends['unknown']} line ends have no known height: those lines "
                            "stay 2D, without a mesh", "warn", 2))
    if src.get("zero_length_links"):
        out.append(Note(f"{src['zero_length_links']} links have zero length in plan (their "
                        "two nodes share one position): kept; validate_network lists them",
                        "warn"))
    if src.get("devices_as_points"):
        out.append(Note(f"{src['devices_as_points']} pumps or valves join two nodes at the "
                        "same place: kept as points in pipe_nodes, still links of the network"))
    return out

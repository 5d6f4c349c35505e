"""Footprints compared as regions, for the compare scripts
(``bench/ifc_compare.py``, ``bench/cityjson_compare.py``).

Two versions of a converter may draw the same footprint with other bytes
(another start vertex, another ring order, a vertex where three are on one
line): the same region. :class:`Regions` compares pairs of footprints (WKB)
and keeps the figures a report needs:

* the **symmetric difference** of the two, relative to the footprint's area
  (the largest, and how many exceed ``tolerance``, with their Hausdorff
  distance);
* the **topology**: the number of polygons and of holes, as they are and
  on a 1 micrometre grid (``shapely.set_precision``), which merges parts
  that touch along a hairline and drops slivers narrower than that: GEOS's
  own overlay leaves such slivers where nearly collinear edges meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely

#: The grid (metres) on which the topology is compared without slivers.
GRID = 1e-6


def topology(g) -> tuple[int, int]:
    """(polygons, holes) of a polygonal geometry (``None``: none)."""
    if g is None or g.is_empty:
        return (0, 0)
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    return (len(parts), sum(len(p.interiors) for p in parts))


@dataclass
class Regions:
    tolerance: float = 1e-6
    same_bytes: int = 0
    same_region: int = 0
    over: list[str] = field(default_factory=list)
    topology_raw: list[str] = field(default_factory=list)
    topology_grid: list[str] = field(default_factory=list)
    worst: float = 0.0
    worst_key: str = ""

    def add(self, key: str, a: bytes | None, b: bytes | None) -> None:
        """Compare the footprints ``a`` (before) and ``b`` (after) of ``key``."""
        if a == b:
            self.same_bytes += 1
            return
        ga = None if a is None else shapely.from_wkb(a)
        gb = None if b is None else shapely.from_wkb(b)
        if ga is None or gb is None or ga.geom_type.endswith("Point") or \
                ga.geom_type.endswith("LineString"):
            self.over.append(key)  # only polygons may differ in their bytes
            self.worst = float("inf")
            return
        area = max(ga.area, 1e-12)
        rel = shapely.symmetric_difference(ga, gb).area / area
        if rel > self.worst:
            self.worst, self.worst_key = rel, key
        if rel > self.tolerance:
            self.over.append(f"{key} (symmetric difference {rel:.2e} of the area, "
                             f"Hausdorff distance {shapely.hausdorff_distance(ga, gb):.3g} m)")
        else:
            self.same_region += 1
        if topology(ga) != topology(gb):
            self.topology_raw.append(key)
            if topology(shapely.set_precision(ga, GRID)) != \
                    topology(shapely.set_precision(gb, GRID)):
                self.topology_grid.append(key)

    @property
    def ok(self) -> bool:
        return not self.over and not self.topology_grid

    def summary(self) -> str:
        return (f"footprints: {self.same_bytes} with the same bytes, {self.same_region} "
                f"other bytes and the same region (symmetric difference <= "
                f"{self.tolerance:g} of the area; largest {self.worst:.2e}"
                f"{' at ' + self.worst_key if self.worst_key else ''}), {len(self.over)} over; "
                f"topology (polygons, holes) differs in {len(self.topology_raw)} as they are, "
                f"in {len(self.topology_grid)} on a {GRID:g} m grid")

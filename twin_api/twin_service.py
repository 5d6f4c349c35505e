"""The twin-specific part of the API, framework-free.

What OGC API - Features has no words for: the twin summary and the styled
layer catalogue, a feature with its hierarchy, meshes and provenance, 3D box
queries, what lies under a building or around a point, the pipe-network
analyses and GLB scenes for the web viewer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from twin.analysis.ageing import age_bands, renewal_list
from twin.analysis.clearance import check_twin_clearances
from twin.analysis.isolation import isolation_for
from twin.analysis.segments import load_segments
from twin.analysis.statistics import network_statistics
from twin.crs import identify
from twin.errors import NotFoundError
from twin.hierarchy import ancestors
from twin.layers import Layer
from twin.network import network_graph, networks, validate_network
from twin.query import Query
from twin.store.base import TwinStore

from .features import features_geojson, json_safe, parse_numbers
from .geo import CrsChoice, bbox_to_crs84, choose_crs, crs_uri
from .problems import ApiProblem, bad_request


def _asdict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(dataclasses.asdict(obj))
    return json_safe(obj)


def summary(store: TwinStore) -> dict[str, Any]:
    """CRS, origin, extent, counts: what a client needs to place the twin."""
    info = store.info()
    ident = identify(info.crs)
    out: dict[str, Any] = {
        "crs": {"name": info.crs.name, "uri": crs_uri(info.crs) if ident.code else None,
                "authority": ident.organization, "code": ident.code},
        "vertical_datum": info.vertical_datum, "origin": info.origin,
        "features": info.feature_count, "features_by_layer": info.features_by_layer,
        "bounds": info.bounds, "batches": info.batch_count, "meshes": info.mesh_count,
        "triangles": info.triangle_count, "network_edges": info.edge_count,
        "schema_version": info.schema_version, "toolkit_version": info.toolkit_version,
    }
    if info.bounds is not None:
        b = info.bounds
        out["bounds_crs84"] = list(bbox_to_crs84((b[0], b[1], b[3], b[4]), info.crs))
    return json_safe(out)


def layer_json(layer: Layer, count: int) -> dict[str, Any]:
    return {"name": layer.name, "title": layer.title, "title_zh": layer.title_zh,
            "group": layer.group, "colour": layer.colour,
            "geometry_type": layer.geometry_type, "code": layer.code,
            "attributes": list(layer.attributes), "standard": layer.standard,
            "features": count}


def layer_catalogue(store: TwinStore) -> dict[str, Any]:
    """The layers with their styles and feature counts, in drawing order."""
    counts = store.info().features_by_layer
    return {"layers": [layer_json(x, counts.get(x.name, 0)) for x in store.layers()]}


def require_layers(store: TwinStore, names: Sequence[str]) -> tuple[str, ...]:
    """The layer names a request gave, each one checked: an unknown layer in
    a query parameter is a bad request (400) on every endpoint, naming the
    layers there are (a path naming an unknown collection is a 404)."""
    known = [x.name for x in store.layers()]
    for name in names:
        if name not in known:
            raise bad_request(f"layer {name!r} does not exist; layers: {', '.join(known)}")
    return tuple(names)


def public_source(source: str) -> str:
    """A batch's source as clients see it: the file name without the
    directories of the machine that imported it."""
    return re.split(r"[\\/]", source)[-1] if source else source


#: what the timeline says of an update batch (``twin import --update``)
UPDATE_COUNTS = ("added", "changed", "unchanged", "retired")


def batch_json(b) -> dict[str, Any]:
    """One import batch as the timeline lists it: what came in, when, and
    what an update changed; the source without the importing machine's
    directories, and nothing of the report's details (skipped elements and
    warnings are counted, not listed)."""
    rep = b.report or {}
    upd = rep.get("update")
    return json_safe({
        "id": b.id, "source": public_source(b.source), "format": b.format,
        "converter": b.converter, "converter_version": b.converter_version,
        "started": b.started, "finished": b.finished, "status": b.status,
        "features": b.feature_count,
        "update": {k: upd.get(k, 0) for k in UPDATE_COUNTS} if isinstance(upd, dict) else None,
        "skipped": rep.get("skipped_count", 0), "warnings": len(rep.get("warnings") or ()),
    })


def batch_timeline(store: TwinStore, limit: int, offset: int, newest_first: bool) -> dict:
    """The twin's import batches, a page of them: the moments ``as_of`` and
    ``changes:BATCH`` can name. A view of the twin as of a batch lists the
    batches up to that one."""
    rows = store.batches()
    as_of = getattr(store, "as_of", None)
    if as_of is not None:
        rows = [b for b in rows if b.id <= as_of]
    if newest_first:
        rows.reverse()
    page = rows[offset:offset + limit]
    return {"batches": [batch_json(b) for b in page], "numberMatched": len(rows),
            "numberReturned": len(page)}


def _brief(f) -> dict[str, Any]:
    return {"id": f.id, "layer": f.layer, "type": f.type, "name": f.name}


def feature_detail(store: TwinStore, feature_id: str) -> dict[str, Any]:
    """Everything about one feature except its geometry arrays."""
    f = store.get(feature_id, meshes=True)
    prov = f.provenance
    return json_safe({
        "id": f.id, "layer": f.layer, "type": f.type, "name": f.name,
        "attributes": dict(f.attributes), "bbox": f.bbox, "lod": f.lod,
        "meshes": {lod: {"vertices": m.n_vertices, "triangles": m.n_faces,
                         "surfaces": m.label_counts()} for lod, m in f.meshes.items()},
        "parent": f.parent,
        "ancestors": [_brief(a) for a in ancestors(store, f.id)],
        "children": store.count(Query(parent=f.id)),
        "edge": dataclasses.asdict(f.edge) if f.edge else None,
        "source_id": f.source_id,
        "provenance": {**dataclasses.asdict(prov),
                       "source_file": public_source(prov.source_file)} if prov else None,
        "geometry_type": f.footprint.geom_type if f.footprint is not None else None,
        "datastreams": feature_datastreams(store, f.id),
    })


def feature_datastreams(store: TwinStore, feature_id: str) -> list[dict[str, Any]]:
    """The SensorThings datastreams of the Things on a feature, with their
    latest values and links into ``/sta/v1.1/``."""
    from twin.sensors.model import iso
    from twin.sensors.store import sensors_of

    out = []
    for d in sensors_of(store).datastreams_of_feature(feature_id):
        out.append({**d, "latest_time": iso(d["latest_time"]),
                    "link": f"/sta/v1.1/Datastreams({d['id']})"})
    return out


def feature_collection(store: TwinStore, q: Query, out: CrsChoice,
                       extra: dict[str, Any] | None = None) -> dict[str, Any]:
    feats = list(store.query(q))
    doc = {"type": "FeatureCollection", "numberReturned": len(feats),
           "features": features_geojson(feats, store.crs, out)}
    if extra:
        doc.update(extra)
    return doc


def twin_crs_choice(store: TwinStore, crs: str | None) -> CrsChoice:
    """Twin endpoints answer in the twin CRS (x = easting) unless asked otherwise."""
    if crs is None:
        return CrsChoice(crs_uri(store.crs), store.crs, False)
    return choose_crs(crs, store.crs)


def below(store: TwinStore, feature_id: str, depth: float, layers: Sequence[str], limit: int,
          crs: str | None) -> dict[str, Any]:
    """What lies under a feature's footprint, from its base down ``depth`` metres."""
    require_layers(store, layers)
    f = store.get(feature_id, meshes=False)
    if f.footprint is None or f.bbox is None or math.isnan(f.bbox[2]):
        raise bad_request(f"feature {feature_id!r} has no footprint with known heights to "
                          "look under")
    if not 0 < depth <= 200:
        raise bad_request(f"depth must be between 0 and 200 m, got {depth}")
    poly = shapely.force_2d(f.footprint)
    if poly.geom_type not in ("Polygon", "MultiPolygon"):
        poly = poly.buffer(0.5)
    x0, y0, x1, y1 = poly.bounds
    base = f.bbox[2]
    q = Query(box3d=(x0, y0, base - depth, x1, y1, base), layers=tuple(layers),
              within=poly, limit=limit)
    feats = [g for g in store.query(q) if g.id != f.id]
    return {"type": "FeatureCollection", "numberReturned": len(feats),
            "under": feature_id, "from_z": base, "to_z": base - depth,
            "features": features_geojson(feats, store.crs, twin_crs_choice(store, crs))}


def around(store: TwinStore, x: float, y: float, n: int, radius: float | None,
           layers: Sequence[str], crs: str | None) -> dict[str, Any]:
    """The ``n`` features nearest to a point of the twin CRS, with distances."""
    require_layers(store, layers)
    hits = store.nearest(x, y, n, layers=tuple(layers), max_distance=radius)
    feats = features_geojson([h[0] for h in hits], store.crs, twin_crs_choice(store, crs))
    for doc, (_, d) in zip(feats, hits):
        doc["properties"]["distance_m"] = round(d, 3)
    return {"type": "FeatureCollection", "numberReturned": len(feats), "features": feats}


#: Reference years an analysis may be asked for.
YEARS = (1800, 2200)


def reference_year(year: int | None) -> int:
    """The year an analysis is made for (this year unless one is given)."""
    return year if year is not None else dt.date.today().year


def renewal(store: TwinStore, layers: Sequence[str], min_age: int, year: int | None
            ) -> dict[str, Any]:
    require_layers(store, layers)
    y = reference_year(year)
    rl = renewal_list(load_segments(store, tuple(layers)), y, min_age, tuple(layers))
    return json_safe({**dataclasses.asdict(rl), "year": y, "length_m": rl.length_m,
                   "share_by_length": rl.share_by_length})


def indicators(store: TwinStore, year: int | None, new_since: int | None, county_town: bool,
               main_city: bool) -> dict[str, Any]:
    """The city health check (城市体检) indicators."""
    from twin.analysis.indicators import health_check

    check = health_check(store, year=reference_year(year), new_since=new_since,
                         county_town=county_town, main_city=main_city)
    return json_safe(check.to_dict())


def ageing(store: TwinStore, layers: Sequence[str], year: int | None) -> dict[str, Any]:
    require_layers(store, layers)
    y = reference_year(year)
    seg = load_segments(store, tuple(layers) if layers else None)
    return {"year": y, "bands": [_asdict(r) for r in age_bands(seg, y)]}


def statistics(store: TwinStore, year: int | None) -> dict[str, Any]:
    y = reference_year(year)
    return {"year": y, "networks": [_asdict(r) for r in
                                    network_statistics(load_segments(store), y)]}


def clearances(store: TwinStore, limit: int) -> dict[str, Any]:
    c = check_twin_clearances(store)
    return json_safe({"rules": c.rules.name, "segments": c.segments, "buildings": c.buildings,
                   "violations_total": len(c.violations),
                   "violations": [x.as_dict() for x in c.violations[:limit]]})


def isolation(store: TwinStore, segment_id: str, hydraulics: bool = False,
              service_pressure_m: float = 14.0, skip_unsupplied: bool = False
              ) -> dict[str, Any]:
    r = isolation_for(store, segment_id, hydraulics=hydraulics,
                      service_pressure_m=service_pressure_m, skip_unsupplied=skip_unsupplied)
    return {**_asdict(r), "out_of_service": list(r.out_of_service)}


def hydraulics(store: TwinStore, network: str | None, at_s: int,
               skip_unsupplied: bool = False) -> dict[str, Any]:
    """An EPANET run of a water network: summary, then every node and link."""
    from twin.analysis.hydraulics import simulate_twin

    r = simulate_twin(store, network, at_s, skip_unsupplied=skip_unsupplied)
    return json_safe({
        **r.summary(),
        "nodes": [{"id": i, "kind": k, "pressure_m": p, "head_m": h, "demand_m3s": d}
                  for i, k, p, h, d in zip(r.node_ids.tolist(), r.kinds.tolist(),
                                           r.pressure_m.tolist(), r.head_m.tolist(),
                                           r.demand_m3s.tolist())],
        "links": [{"id": i, "flow_m3s": q} for i, q in zip(r.link_ids.tolist(),
                                                           r.flow_m3s.tolist())]})


def calibration(store: TwinStore, network: str | None, time: str | None, start: str | None,
                end: str | None, at_s: int, skip_unsupplied: bool = False) -> dict[str, Any]:
    """Simulated against observed pressures at the pressure loggers."""
    from twin.analysis.calibration import calibration_check
    from twin.analysis.hydraulics import twin_network
    from twin.sensors.model import iso, to_ms

    if (start is None) != (end is None):
        raise bad_request("from and to go together (an interval), or give time")
    ms = {k: to_ms(v, what=k) if v is not None else None
          for k, v in (("time", time), ("from", start), ("to", end))}
    c = calibration_check(store, twin_network(store, network), at=ms["time"],
                          start=ms["from"], end=ms["to"], sim_at_s=at_s,
                          skip_unsupplied=skip_unsupplied)
    return json_safe({
        "network": c.network, "time_s": c.time_s, "time": iso(c.at), "from": iso(c.start),
        "to": iso(c.end), "loggers": len(c.residuals), "rmse_m": c.rmse_m,
        "mean_residual_m": c.mean_residual_m,
        "residuals": [dataclasses.asdict(r) for r in c.residuals],
        "skipped": [{"datastream": d, "name": n, "reason": why} for d, n, why in c.skipped],
        "defaulted": c.defaulted})


def network_list(store: TwinStore) -> dict[str, Any]:
    return {"networks": networks(store)}


def network_check(store: TwinStore, network: str) -> dict[str, Any]:
    if network not in networks(store):
        raise NotFoundError(f"network {network!r} does not exist; networks: "
                            f"{', '.join(networks(store)) or 'none'}")
    rep = validate_network(network_graph(store, network))
    return {**_asdict(rep), "ok": rep.ok}


def scene_query(store: TwinStore, bbox: tuple[float, float, float, float] | None,
                layers: Sequence[str], ids: Sequence[str], max_area_km2: float,
                max_features: int) -> Query:
    """The query behind a GLB scene; refuses scenes too large to send."""
    require_layers(store, layers)
    if bbox is None and not ids:
        raise bad_request("a scene needs a bbox (xmin,ymin,xmax,ymax in the twin CRS) or ids")
    if bbox is not None:
        area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]) / 1e6
        if area > max_area_km2:
            raise bad_request(f"bbox covers {area:.2f} km^2, more than the {max_area_km2:g} "
                              "km^2 one scene may cover; use 3D Tiles for a whole city")
    q = Query(bbox=bbox, layers=tuple(layers),
              ids=tuple(ids), with_meshes=True, free_attributes=False)  # a scene shows typed ones
    n = store.count(q)
    if n > max_features:
        raise ApiProblem(413, "Scene too large",
                         f"the scene holds {n} features, more than the {max_features} allowed "
                         "in one GLB; choose a smaller bbox or fewer layers")
    return q


def parse_box2d(text: str | None, name: str = "bbox"
                ) -> tuple[float, float, float, float] | None:
    """An optional 2D box parameter ``xmin,ymin,xmax,ymax`` (``None`` when absent)."""
    if text is None:
        return None
    x0, y0, x1, y1 = parse_numbers(text, name, (4,))
    return x0, y0, x1, y1


def parse_box3d(text: str | None, name: str = "box3d"
                ) -> tuple[float, float, float, float, float, float] | None:
    """An optional 3D box parameter ``xmin,ymin,zmin,xmax,ymax,zmax`` (``None``
    when absent)."""
    if text is None:
        return None
    x0, y0, z0, x1, y1, z1 = parse_numbers(text, name, (6,))
    return x0, y0, z0, x1, y1, z1


def highlight_sets(store: TwinStore, analysis: str, geometry: bool) -> dict:
    """An analysis as coloured id sets (and, on request, each group's 3D
    centrelines and points relative to the twin's origin, for thick lines)."""
    from viewer.highlight import highlight, highlight_geometry

    name, _, arg = analysis.strip().partition(":")
    if name.lower() == "renewal" and arg:
        try:
            year = int(arg)
        except ValueError:
            raise bad_request(f"analysis {analysis!r}: the year must be a number, as in "
                              "renewal:2025") from None
        if not YEARS[0] <= year <= YEARS[1]:
            raise bad_request(f"analysis {analysis!r}: the year must be between {YEARS[0]} "
                              f"and {YEARS[1]}")
    hl = highlight(store, analysis)
    out = hl.as_dict()
    if geometry:
        for g, d in zip(hl.groups, out["groups"]):
            lines, points = highlight_geometry(store, g)
            d["lines"] = [np.round(x, 3).tolist() for x in lines]
            d["points"] = [np.round(x, 3).tolist() for x in points]
    return out

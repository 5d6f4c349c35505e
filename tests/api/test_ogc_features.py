"""OGC API - Features on the small city and the demo district."""

from __future__ import annotations

import pytest
from builders import X0, Y0
from pyproj import Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4546 = "http://www.opengis.net/def/crs/EPSG/0/4546"
TO_LONLAT = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)


def test_landing_page_links_the_standard_resources(api):
    r = api.get("/")
    assert r.status_code == 200
    rels = {link["rel"]: link["href"] for link in r.json()["links"]}
    assert rels["service-desc"].endswith("/openapi.json")
    assert rels["conformance"].endswith("/conformance")
    assert rels["data"].endswith("/collections")
    assert api.get(rels["service-desc"]).json()["openapi"] == "3.0.3"


def test_conformance_declares_core_geojson_and_crs(api):
    classes = api.get("/conformance").json()["conformsTo"]
    for c in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
              "ogcapi-features-2/1.0/conf/crs"):
        assert any(x.endswith(c) for x in classes)


def test_collections_are_the_layers_with_wgs84_extents(api, city):
    cols = {c["id"]: c for c in api.get("/collections").json()["collections"]}
    assert set(cols) == {layer.name for layer in city.layers()}
    b = cols["buildings"]
    assert b["storageCrs"] == EPSG4546 and CRS84 in b["crs"]
    lon0, lat0, lon1, lat1 = b["extent"]["spatial"]["bbox"][0]
    # buildings span X0..X0+100, Y0..Y0+42 in EPSG:4546: the envelope of its corners
    lons, lats = TO_LONLAT.transform([X0, X0 + 100, X0 + 100, X0], [Y0, Y0, Y0 + 42, Y0 + 42])
    assert [lon0, lat0, lon1, lat1] == pytest.approx(
        [min(lons), min(lats), max(lons), max(lats)], abs=1e-9)
    assert "extent" not in cols["bridges"]  # empty layer: no extent to claim
    assert api.get("/collections/heating").json()["style"]["colour"].startswith("#")


def test_items_are_geojson_in_crs84_with_z_range_and_attributes(api):
    r = api.get("/collections/buildings/items")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-crs"] == f"<{CRS84}>"
    doc = r.json()
    assert doc["numberMatched"] == doc["numberReturned"] == 3
    b1 = next(f for f in doc["features"] if f["id"] == "test:B1")
    ring = b1["geometry"]["coordinates"][0][0]
    lon, lat = TO_LONLAT.transform(X0, Y0)
    assert [lon, lat] in [pytest.approx(c[:2], abs=1e-9) for c in ring]
    p = b1["properties"]
    assert p["storeys"] == 6 and p["colour"] == "grey" and p["zmin"] == 1050.0
    assert p["zmax"] == pytest.approx(1068.0)


def test_items_in_the_twin_crs_follow_its_northing_first_axis_order(api):
    r = api.get("/collections/buildings/items", params={"crs": EPSG4546})
    assert r.headers["content-crs"] == f"<{EPSG4546}>"
    b1 = next(f for f in r.json()["features"] if f["id"] == "test:B1")
    coords = {tuple(c[:2]) for c in b1["geometry"]["coordinates"][0][0]}
    assert (Y0, X0) in coords and (Y0 + 12, X0 + 20) in coords


def test_pipes_keep_their_3d_centrelines_and_topology(api):
    doc = api.get("/collections/heating/items", params={"crs": EPSG4546}).json()
    (p,) = doc["features"]
    assert p["geometry"]["type"] == "LineString"
    assert p["geometry"]["coordinates"][0] == [Y0 + 6, X0 - 10, 1047.0]
    assert p["properties"]["start_node"] == "test:RL1" and p["properties"]["network"] == "RL"


def test_bbox_selects_in_crs84_and_in_the_twin_crs(api):
    lo = TO_LONLAT.transform(X0 + 35, Y0 - 1)
    hi = TO_LONLAT.transform(X0 + 65, Y0 + 13)
    r = api.get("/collections/buildings/items",
                params={"bbox": f"{lo[0]},{lo[1]},{hi[0]},{hi[1]}"})
    assert [f["id"] for f in r.json()["features"]] == ["test:B2"]
    # the same box in EPSG:4546 axis order (northing, easting)
    r = api.get("/collections/buildings/items",
                params={"bbox": f"{Y0 - 1},{X0 + 35},{Y0 + 13},{X0 + 65}",
                        "bbox-crs": EPSG4546})
    assert [f["id"] for f in r.json()["features"]] == ["test:B2"]


def test_bbox_with_heights_selects_in_3d(api):
    lo = TO_LONLAT.transform(X0 - 20, Y0 - 20)
    hi = TO_LONLAT.transform(X0 + 100, Y0 + 50)
    below = api.get("/collections/heating/items",
                    params={"bbox": f"{lo[0]},{lo[1]},1040,{hi[0]},{hi[1]},1049"}).json()
    above = api.get("/collections/heating/items",
                    params={"bbox": f"{lo[0]},{lo[1]},1049,{hi[0]},{hi[1]},1100"}).json()
    assert below["numberMatched"] == 1 and above["numberMatched"] == 0


def test_property_filters(api):
    ids = lambda r: sorted(f["id"] for f in r.json()["features"])  # noqa: E731
    assert ids(api.get("/collections/buildings/items", params={"storeys": 20})) == ["test:B2"]
    assert ids(api.get("/collections/buildings/items", params={"function": "school"})) == \
        ["test:B3"]
    assert ids(api.get("/collections/buildings/items", params={"where": "storeys>5"})) == \
        ["test:B1", "test:B2"]


@pytest.mark.parametrize("query, fragment", [
    ("foo=1", "unknown query parameter 'foo'"),
    ("limit=0", "limit"),
    ("offset=9223372036854775808", "offset"),
    ("bbox=1,2,3", "bbox"),
    ("bbox=3,2,1,4", "minimum"),
    ("crs=EPSG:3857", "not offered"),
    ("storeys=many", "storeys"),
    ("where=storeys>>5", "needs a number"),
    ("f=html", "f=json"),
])
def test_bad_item_requests_are_problem_documents(api, query, fragment):
    r = api.get(f"/collections/buildings/items?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 400 and fragment in body["detail"]


def test_single_item_and_its_errors(api):
    r = api.get("/collections/buildings/items/test:B2")
    assert r.status_code == 200 and r.json()["id"] == "test:B2"
    assert r.headers["content-type"].startswith("application/geo+json")
    wrong = api.get("/collections/heating/items/test:B2")
    assert wrong.status_code == 404 and "in 'buildings'" in wrong.json()["detail"]
    missing = api.get("/collections/buildings/items/test:nope")
    assert missing.status_code == 404 and "'test:nope' does not exist" in missing.json()["detail"]
    unknown = api.get("/collections/nope/items")
    assert unknown.status_code == 404 and "layer 'nope'" in unknown.json()["detail"]
    for r in (missing, unknown):  # the server's file path is not shown to clients
        assert "city.gpkg" not in r.json()["detail"] and "the twin" in r.json()["detail"]


def test_paging_links_walk_every_feature_once(demo_api):
    url = "/collections/pipe_nodes/items?limit=400"
    first = demo_api.get(url).json()
    total = first["numberMatched"]
    assert total > 1000
    seen, pages, doc = [], 0, first
    while True:
        pages += 1
        seen += [f["id"] for f in doc["features"]]
        assert doc["numberReturned"] == len(doc["features"])
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        if not nxt:
            break
        doc = demo_api.get(nxt[0]).json()
        assert any(link["rel"] == "prev" for link in doc["links"])
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 400)
    assert not any(link["rel"] == "prev" for link in first["links"])


def test_default_page_size_comes_from_the_settings(demo_api):
    doc = demo_api.get("/collections/buildings/items").json()
    assert doc["numberReturned"] == 50 and doc["numberMatched"] > 50

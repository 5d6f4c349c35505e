"""3D Tiles 1.1: the tileset's structure and placement on the globe, and the web
viewer streaming it with the 3d-tiles-renderer (Chromium, software WebGL)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from metadata_reader import glb_parts, property_tables
from pyproj import CRS, Transformer

import twin
from twin_api.app import create_app
from twin_api.settings import ApiSettings
from viewer.gltf import read_glb_json
from viewer.tiles3d import export_3dtiles

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def tiles(demo_twin, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiles")
    with twin.open_twin(demo_twin, readonly=True) as store:
        rep = export_3dtiles(store, out, max_features=600)
    return out, rep


def _ids(doc, glb, prim):
    acc = doc["accessors"][prim["attributes"]["_FEATURE_ID_0"]]
    view = doc["bufferViews"][acc["bufferView"]]
    _, blob = glb_parts(glb)
    return np.frombuffer(blob, np.float32, acc["count"], view.get("byteOffset", 0))


def _walk(tile, depth=0):
    yield tile, depth
    for c in tile.get("children", []):
        yield from _walk(c, depth + 1)


def test_tileset_is_a_3d_tiles_1_1_quadtree_with_prominent_features_first(tiles, demo_twin):
    out, rep = tiles
    ts = json.loads((out / "tileset.json").read_text())
    assert ts["asset"]["version"] == "1.1" and ts["geometricError"] > 0
    # glTF extensions are the contents' own, not the tileset JSON's
    assert "extensionsUsed" not in ts
    with_content = [(t, d) for t, d in _walk(ts["root"]) if "content" in t]
    assert len(with_content) == rep.tiles >= 4 and rep.levels >= 2
    with twin.open_twin(demo_twin, readonly=True) as store:
        # the demo's GIS block of the community centre (its IFC model shows), and
        # the IFC building's own envelope (its storeys and elements show)
        hidden = 2
        drawable = sum(1 for f in store.query(twin.Query(with_meshes=True)) if f.mesh)
        volume = {}
        for f in store.query(twin.Query(layers=("buildings",))):
            bb = np.asarray(f.bbox)
            volume[f.id] = float(np.prod(np.maximum(bb[3:] - bb[:3], 0.1)))
    n = 0
    by_depth: dict[int, list[float]] = {}
    for t, depth in _walk(ts["root"]):
        assert t["refine"] == "ADD" and "region" in t["boundingVolume"]
        w, s_, e, nn, z0, z1 = t["boundingVolume"]["region"]
        assert w < e and s_ < nn and z0 <= z1
        assert (t["geometricError"] > 0) == bool(t.get("children"))
        if "content" not in t:
            continue
        glb = (out / t["content"]["uri"]).read_bytes()
        doc = read_glb_json(glb)
        assert {"EXT_mesh_features", "EXT_structural_metadata"} <= set(doc["extensionsUsed"])
        tables = property_tables(glb)
        for node in doc["nodes"]:
            assert len(node["matrix"]) == 16
            prim = doc["meshes"][node["mesh"]]["primitives"][0]
            fc = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
            assert fc["featureCount"] == len(node["extras"]["features"])
            # the metadata a 3D Tiles client reads (one table per GLB, as CesiumJS
            # picks through one): the same rows as the extras, from the node's offset
            assert fc["propertyTable"] == 0 and len(tables) == 1
            first = node["extras"]["feature_offset"]
            assert tables[0][first:first + fc["featureCount"]] == node["extras"]["features"]
            ids = _ids(doc, glb, prim)
            assert ids.min() == first and ids.max() == first + fc["featureCount"] - 1
            assert "_FEATURE_ID_0" in prim["attributes"]
            n += fc["featureCount"]
            by_depth.setdefault(depth, []).extend(
                volume[r["id"]] for r in node["extras"]["features"] if r["id"] in volume)
    assert n == rep.features == drawable - hidden  # every drawable feature exactly once
    # the root holds the district's bulkiest buildings, the leaves the smaller ones
    with_buildings = [d for d, v in by_depth.items() if v]
    top, deepest = min(with_buildings), max(with_buildings)
    assert np.median(by_depth[top]) > 3 * np.median(by_depth[deepest])


def test_tiles_sit_where_the_twin_crs_puts_them_on_the_globe(tiles, demo_twin):
    """A feature's corner through its tile's node matrix (after the glTF y-up to
    3D Tiles z-up turn that renderers apply) lands where pyproj's EPSG:4546 ->
    EPSG:4978 puts it: within a centimetre plus the Earth's curvature under the
    tile's flat frame (d^2 / 2R: 2 mm at 150 m, 6 cm at 900 m), in every tile."""
    from viewer.gltf import to_gltf_axes
    from viewer.tiles3d import _Y_UP_TO_Z_UP, ecef_transformer, local_frame, polar

    out, _ = tiles
    ts = json.loads((out / "tileset.json").read_text())
    tr = Transformer.from_crs(CRS("EPSG:4546").to_3d(), "EPSG:4978", always_xy=True)
    crs = CRS("EPSG:4546")
    to_ecef = ecef_transformer(crs)  # the exporter's, made once as it makes it
    checked = 0
    with twin.open_twin(demo_twin, readonly=True) as store:
        for t, _ in _walk(ts["root"]):
            if "content" not in t:
                continue
            doc = read_glb_json((out / t["content"]["uri"]).read_bytes())
            centre = np.asarray(doc["asset"]["extras"]["origin"])
            _, stretch = polar(local_frame(crs, centre, to_ecef=to_ecef)[:3, :3])
            for node in doc["nodes"]:
                m = np.asarray(node["matrix"]).reshape(4, 4).T
                assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9)  # rigid
                row = node["extras"]["features"][-1]
                corner = store.get(row["id"]).mesh.vertices[0]
                v = to_gltf_axes(corner[None], centre, stretch)[0].astype(np.float64)
                got = (_Y_UP_TO_Z_UP @ m @ np.append(v, 1.0))[:3]
                want = np.array(tr.transform(*corner))
                # a flat frame leaves the curved Earth by d^2 / 2R at d from its centre
                d = np.linalg.norm(corner[:2] - centre[:2])
                tol = 0.01 + 1.2 * d * d / (2 * 6.371e6)
                assert np.linalg.norm(got - want) < tol, (row["id"], d, got - want)
                checked += 1
    assert checked >= 10


@pytest.fixture(scope="module")
def tiles_server(demo_twin, tiles):
    out, _ = tiles
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(
        create_app(ApiSettings(str(demo_twin), tiles_dir=str(out))),
        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.mark.browser
def test_viewer_streams_the_tiles_and_picks_a_feature_in_them(tiles_server, tmp_path):
    import httpx2 as httpx
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists()
    towers = httpx.get(f"{tiles_server}/collections/buildings/items",
                       params={"where": "storeys>=26", "limit": 50}).json()["features"]
    tops = {}
    for t in towers:
        box = httpx.get(f"{tiles_server}/twin/features/{t['id']}").json()["bbox"]
        tops[t["id"]] = [(box[0] + box[3]) / 2, (box[1] + box[4]) / 2, box[5] - 0.5]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # the viewer's Content-Security-Policy forbids the string evaluation of
        # Playwright's polling
        page = browser.new_page(viewport={"width": 1000, "height": 700}, bypass_csp=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{tiles_server}/viewer/?tiles=1")
        page.wait_for_function("window.twinViewer && (window.twinViewer.ready || "
                               "window.twinViewer.error)", timeout=120_000)
        assert page.evaluate("window.twinViewer.error") is None, errors
        assert page.evaluate("window.twinViewer.mode") == "tiles"
        page.wait_for_function("window.twinViewer.tilesLoaded > 0 && "
                               "window.twinViewer.loadProgress() === 1", timeout=120_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "tiles.png"))
        # the tower nearest the middle of the picture (clear of the side panel)
        screen = {fid: page.evaluate(f"window.twinViewer.screenOfTwinPoint({top!r})")
                  for fid, top in tops.items()}
        fid = min(screen, key=lambda k: abs(screen[k]["x"] - 650) + abs(screen[k]["y"] - 350))
        pos = screen[fid]
        page.mouse.click(pos["x"], pos["y"])
        page.wait_for_function("window.twinViewer.picked !== null", timeout=20_000)
        picked = page.evaluate("window.twinViewer.picked")
        loaded = page.evaluate("window.twinViewer.tilesLoaded")
        browser.close()
    assert picked == fid and loaded >= 2


def test_frames_follow_the_datum_of_any_projected_crs():
    """RD New (Bessel ellipsoid, Amersfoort datum): a point 100 m from the frame's
    centre lands where pyproj's datum transformation to EPSG:4978 puts it."""
    from viewer.tiles3d import local_frame

    crs = CRS("EPSG:28992")
    centre = np.array([85000.0, 446000.0, 5.0])
    m = local_frame(crs, centre)
    p = centre + [60.0, 80.0, 10.0]
    got = (m @ np.append(p - centre, 1.0))[:3]
    want = np.array(Transformer.from_crs(crs.to_3d(), "EPSG:4978", always_xy=True)
                    .transform(*p))
    assert np.linalg.norm(got - want) < 0.01

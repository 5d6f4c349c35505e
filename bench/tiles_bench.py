"""A city of 100,000 buildings in the browser: 3D Tiles against one GLB scene.

Builds a synthetic twin of N buildings (default 100,000 blocks of 6-33
storeys on a 10 x 10 km street grid in EPSG:4546), exports it as 3D Tiles
and opens it in the web viewer (Debian's Chromium, software WebGL), timing
how long until the overview is fully loaded. Baseline in the same run: the
viewer loading the demo-sized scene (the first N_SCENE buildings of the same
city's density as one GLB scene, which is how the viewer opens small twins; the whole
city cannot be one scene: the API refuses scenes over 20,000 features).

With ``--export-only`` it measures the export alone: the tiles with their
``EXT_structural_metadata`` property tables (what CesiumJS reads) against
the same tiles without them (extras and feature ids only, as before), in
bytes and seconds, the ratio of the two printed.

Usage: ``python bench/tiles_bench.py [--n 100000] [--export-only]``
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from twin.geometry import extrude_footprint  # noqa: E402
from viewer.tiles3d import export_3dtiles  # noqa: E402

X0, Y0, G = 550000.0, 4515000.0, 1050.0
N_SCENE = 5000
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader"]


def build_city(path: Path, n: int, pitch: float = 31.6) -> float:
    """n buildings on a street grid, one per ``pitch`` metres (100,000: 10 x 10 km)."""
    from shapely.geometry import box

    rng = np.random.default_rng(7)
    side = int(np.ceil(np.sqrt(n)))
    t0 = time.perf_counter()
    with twin.create_twin(path, "EPSG:4546", origin=(X0 + 5000, Y0 + 5000, G)) as store:
        with store.import_batch("synthetic city", "bench", "bench", "1") as batch:
            feats = []
            for k in range(n):
                i, j = divmod(k, side)
                w, d = rng.uniform(0.3, 0.7, 2) * pitch
                x, y = X0 + i * pitch, Y0 + j * pitch
                storeys = int(rng.choice([6, 11, 18, 26, 33], p=[.35, .3, .15, .12, .08]))
                fp = box(x, y, x + w, y + d)
                feats.append(twin.Feature(
                    id=f"city:B{k}", layer="buildings", type="Building", footprint=fp,
                    meshes={"1": extrude_footprint(fp, G, G + storeys * 3.0)},
                    attributes={"storeys": storeys}))
                if len(feats) == 5000:
                    batch.add(feats)
                    feats = []
            batch.add(feats)
    return time.perf_counter() - t0


def open_in_browser(path: Path, tiles_dir: Path | None, shot: Path) -> dict:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ApiSettings(str(path), tiles_dir=str(tiles_dir) if tiles_dir else None)
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800},
                                    bypass_csp=True)  # Playwright polls with string eval
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/viewer/" + ("?tiles=1" if tiles_dir else ""))
            page.wait_for_function("window.twinViewer && (window.twinViewer.ready || "
                                   "window.twinViewer.error)", timeout=600_000)
            ready = time.perf_counter() - t0
            err = page.evaluate("window.twinViewer.error")
            if err:
                raise RuntimeError(err)
            page.wait_for_function("window.twinViewer.loadProgress() === 1 && "
                                   "(window.twinViewer.mode !== 'tiles' || "
                                   "window.twinViewer.tilesLoaded > 0)", timeout=600_000)
            loaded = time.perf_counter() - t0
            page.screenshot(path=str(shot))
            tiles = page.evaluate("window.twinViewer.tilesLoaded || 0")
            browser.close()
    finally:
        srv.should_exit = True
    return {"ready_s": ready, "loaded_s": loaded, "tiles": tiles}


def export_metadata_cost(path: Path, out: Path, repeat: int = 3) -> None:
    """Tiles with property tables against tiles without (the baseline, same run);
    the fastest of ``repeat`` exports of each."""
    results = {}
    with twin.open_twin(path, readonly=True) as store:
        for metadata in (False, True, False, True) * ((repeat + 1) // 2):
            t0 = time.perf_counter()
            rep = export_3dtiles(store, out / f"tiles_{metadata}", metadata=metadata)
            dt = time.perf_counter() - t0
            best = results.get(metadata)
            results[metadata] = (min(dt, best[0]) if best else dt, rep.bytes, rep.tiles)
    (t0, b0, n0), (t1, b1, n1) = results[False], results[True]
    print(f"tiles without metadata (baseline): {n0} tiles, {b0 / 1e6:.1f} MB, {t0:.2f} s",
          flush=True)
    print(f"tiles with EXT_structural_metadata: {n1} tiles, {b1 / 1e6:.1f} MB, {t1:.2f} s "
          f"= {b1 / b0:.2f}x the bytes, {t1 / t0:.2f}x the time", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="buildings in the city")
    ap.add_argument("--shots", default=None, help="folder for the screenshots")
    ap.add_argument("--export-only", action="store_true",
                    help="only the export, with and without metadata")
    args = ap.parse_args()
    if args.export_only:
        with tempfile.TemporaryDirectory() as tmp:
            build_city(Path(tmp) / "city.gpkg", args.n)
            export_metadata_cost(Path(tmp) / "city.gpkg", Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shots = Path(args.shots) if args.shots else tmp
        shots.mkdir(parents=True, exist_ok=True)
        t_build = build_city(tmp / "city.gpkg", args.n)
        print(f"synthetic city: {args.n:,} buildings stored in {t_build:.1f} s", flush=True)
        small = tmp / "small.gpkg"
        build_city(small, N_SCENE)
        t0 = time.perf_counter()
        with twin.open_twin(tmp / "city.gpkg", readonly=True) as store:
            rep = export_3dtiles(store, tmp / "tiles")
        t_tiles = time.perf_counter() - t0
        print(f"3D Tiles export: {rep.tiles} tiles in {rep.levels} levels, "
              f"{rep.bytes / 1e6:.0f} MB, {t_tiles:.1f} s", flush=True)
        base = open_in_browser(small, None, shots / "scene_5000.png")
        print(f"baseline, one GLB scene of {N_SCENE:,} buildings: ready {base['ready_s']:.1f} s",
              flush=True)
        big = open_in_browser(tmp / "city.gpkg", tmp / "tiles", shots / "tiles_city.png")
        print(f"3D Tiles, {args.n:,} buildings: viewer ready {big['ready_s']:.1f} s, overview "
              f"loaded {big['loaded_s']:.1f} s ({big['tiles']} tiles) = "
              f"{big['loaded_s'] / base['ready_s']:.2f}x the {N_SCENE:,}-building scene",
              flush=True)


if __name__ == "__main__":
    main()

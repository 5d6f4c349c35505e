"""The web viewer in a browser: time to ready, to first frame and frame time
while orbiting, against the previous viewer measured in the same run.

Both viewers run in Debian's Chromium with software WebGL (SwiftShader) on
the same twin and server:

- **old**: the viewer as it was before the scene-source rewrite (git commit
  ``BASELINE``: one glTF node per feature from ``/twin/scene.glb``, one draw
  call each), served from a temporary copy;
- **new**: this tree's viewer (``/twin/viewer/scene.glb``: a merged mesh per
  layer with per-vertex feature ids, repeated fittings instanced).

Twins: the demo district (``sample_models/hohhot_demo``) as a GLB scene, and
a synthetic city of N buildings (default 100,000, ``bench/tiles_bench.py``'s
street grid) as 3D Tiles, which both viewers stream.

*Ready* is the viewer saying so (``twinViewer.ready``), *first frame* the
end of the first animation frame after it, *orbit* the median interval
between drawn frames while the mouse drags the camera round (moves come
faster than frames, so each frame draws). The machine may be loaded: the ratios,
measured minutes apart, count more than the seconds.

Usage: ``python bench/web_viewer_bench.py [--n 100000] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "viewer"))

import twin  # noqa: E402

#: The last commit of the one-node-per-feature viewer.
BASELINE = "7e3a176"
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader"]
# the start time of every animation frame that drew (cleared the canvas), from the
# first script on: both viewers draw through three.js, which clears first
RAF_PROBE = """
window.__frames = [];
let clears = 0;
const clear = WebGL2RenderingContext.prototype.clear;
WebGL2RenderingContext.prototype.clear = function (...a) {
  clears += 1; return clear.apply(this, a);
};
const raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (fn) => raf((t) => {
  const start = performance.now(), before = clears;
  fn(t);
  if (clears > before) window.__frames.push(start);
});
"""


def old_viewer(dest: Path) -> Path:
    """The baseline viewer's files from git, with this tree's node_modules."""
    dest.mkdir(parents=True)
    for name in ("index.html", "main.js", "style.css"):
        data = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE}:viewer/web/{name}"],
                              check=True, capture_output=True).stdout
        (dest / name).write_bytes(data)
    shutil.copytree(ROOT / "viewer" / "web" / "node_modules", dest / "node_modules",
                    symlinks=False)
    return dest


def measure(browser, url: str, query: str, orbit_steps: int = 40) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True,
                            timezone_id="Asia/Shanghai")
    page.add_init_script(RAF_PROBE)
    t0 = time.perf_counter()
    page.goto(f"{url}/viewer/{query}")
    page.wait_for_function("window.twinViewer && (window.twinViewer.ready || "
                           "window.twinViewer.error)", timeout=900_000, polling=100)
    ready = time.perf_counter() - t0
    err = page.evaluate("window.twinViewer.error")
    if err:
        raise RuntimeError(err)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    first = time.perf_counter() - t0
    page.wait_for_function("window.twinViewer.loadProgress() === 1", timeout=900_000,
                           polling=200)
    loaded = time.perf_counter() - t0
    page.wait_for_timeout(500)
    start = page.evaluate("performance.now()")
    page.mouse.move(900, 400)
    page.mouse.down()
    for k in range(orbit_steps):  # a steady stream of moves: every frame has one to draw
        page.mouse.move(900 - (k + 1) * 8, 400 + (k % 10) * 2, steps=4)
    page.mouse.up()
    end = page.evaluate("performance.now()")
    frames = [t for t in page.evaluate("window.__frames") if start <= t <= end]
    gaps = [b - a for a, b in zip(frames, frames[1:])]
    page.close()
    return {"ready_s": ready, "first_frame_s": first, "loaded_s": loaded,
            "orbit_ms": statistics.median(gaps) if gaps else float("nan"),
            "orbit_frames": len(frames)}


def run(twin_path: Path, tiles_dir: Path | None, viewer_dir: Path | None, query: str,
        browser) -> dict:
    from web_browser import serve

    with serve(twin_path, tiles_dir=tiles_dir, viewer_dir=viewer_dir) as url:
        return measure(browser, url, query)


def report(title: str, old: dict, new: dict) -> None:
    print(f"\n{title}")
    print(f"  {'':14}{'old':>10}{'new':>10}{'old/new':>10}")
    for key, label in (("ready_s", "ready s"), ("first_frame_s", "first frame s"),
                       ("loaded_s", "loaded s"), ("orbit_ms", "orbit ms/frame")):
        print(f"  {label:14}{old[key]:10.2f}{new[key]:10.2f}{old[key] / new[key]:10.2f}x")
    sys.stdout.flush()


def main() -> None:
    from builders import demo_sources
    from playwright.sync_api import sync_playwright
    from tiles_bench import build_city

    from converters import import_file
    from viewer.tiles3d import export_3dtiles

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="buildings of the tiled city")
    ap.add_argument("--rounds", type=int, default=1, help="old/new pairs per twin")
    ap.add_argument("--skip-city", action="store_true", help="only the demo district")
    ap.add_argument("--skip-demo", action="store_true", help="only the city")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        tmp = Path(tmp)
        old_dir = old_viewer(tmp / "old_viewer")
        demo = tmp / "demo.gpkg"
        with twin.create_twin(demo, "EPSG:4546",
                              vertical_datum="1985 National Height Datum") as store:
            for f in demo_sources():
                import_file(store, f, options={"id_prefix": "hohhot"})
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        q = "?tiles=0&sun=2025-06-21T10:00:00%2B08:00"
        for r in range(0 if args.skip_demo else args.rounds):  # old, new alternate: drifts hit both
            old = run(demo, None, old_dir, "?tiles=0", browser)
            new = run(demo, None, None, q, browser)
            report(f"demo district (5,223 features, one GLB scene), round {r + 1}", old, new)
        if args.skip_city:
            return
        city = tmp / "city.gpkg"
        t = build_city(city, args.n)
        t0 = time.perf_counter()
        with twin.open_twin(city, readonly=True) as store:
            rep = export_3dtiles(store, tmp / "tiles")
        print(f"\ncity of {args.n:,} buildings stored in {t:.0f} s, 3D Tiles export "
              f"{rep.tiles} tiles in {time.perf_counter() - t0:.0f} s", flush=True)
        q = "?tiles=1&sun=2025-06-21T10:00:00%2B08:00"
        for r in range(args.rounds):
            old = run(city, tmp / "tiles", old_dir, "?tiles=1", browser)
            new = run(city, tmp / "tiles", None, q, browser)
            report(f"city of {args.n:,} buildings (3D Tiles), round {r + 1}", old, new)
        browser.close()


if __name__ == "__main__":
    main()

"""Rewrite the README's pictures from the demo twin (`make demo-build` first).

    python docs/screenshots.py [out/demo.gpkg] [--web]   # --web: the web viewer's only

Serves the twin on a free loopback port, drives Debian's Chromium (software
WebGL) through the web viewer, renders the health-check report and the
PyVista snapshots (EGL): docs/img/web_viewer.png, web_viewer_underground.png,
web_viewer_colours.png, web_viewer_dashboard.png, web_viewer_section.png,
health_report.png, desktop_iso.png, desktop_underground.png, desktop_renewal.png.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from twin_api.app import create_app
from twin_api.settings import ApiSettings

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader"]


def serve(twin_path: Path) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(ApiSettings(str(twin_path))),
                                        host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}"


def desktop(twin_path: Path) -> None:
    import os

    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import twin
    from viewer.desktop import snapshot
    from viewer.highlight import highlight

    with twin.open_twin(twin_path, readonly=True) as store:
        snapshot(store, IMG / "desktop_iso.png", view="iso", size=(1200, 750))
        snapshot(store, IMG / "desktop_underground.png", view="underground", size=(1200, 750))
        snapshot(store, IMG / "desktop_renewal.png", view="iso", size=(1200, 750),
                 highlight=highlight(store, "renewal:2025"))


WEB = ("web_viewer.png", "web_viewer_underground.png", "web_viewer_colours.png",
       "web_viewer_dashboard.png", "web_viewer_section.png")


def main(twin_path: Path, web_only: bool = False) -> None:
    """Every picture, or with ``web_only`` the web viewer's alone."""
    from click.testing import CliRunner

    from twin_cli.main import cli

    srv, url = serve(twin_path)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        report = Path(tmp) / "report.html"
        res = CliRunner().invoke(cli, ["health-check", str(twin_path), "--year", "2025",
                                       "--out", str(report)])
        if res.exit_code:
            raise SystemExit(res.output)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        if not web_only:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(report.as_uri())
            page.screenshot(path=str(IMG / "health_report.png"), full_page=True)

        # the web viewer: a fixed sun and year so that pictures repeat
        page = browser.new_page(viewport={"width": 1280, "height": 760}, bypass_csp=True,
                                timezone_id="Asia/Shanghai")
        page.goto(f"{url}/viewer/?sun=2025-06-21T10:00:00%2B08:00&year=2025")
        page.wait_for_function("window.twinViewer && window.twinViewer.ready", timeout=180_000)
        page.wait_for_function("window.twinViewer.panelsReady === true", timeout=180_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(IMG / "web_viewer.png"))

        page.evaluate("window.twinViewer.colourBy('year_built')")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(IMG / "web_viewer_colours.png"))
        page.evaluate("window.twinViewer.colourBy('')")

        page.click("#tabs button[data-tab=tab-check]")
        page.click("#indicators li[data-key=heating_renewal]")
        page.wait_for_function("window.twinViewer.indicator === 'heating_renewal'")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(IMG / "web_viewer_dashboard.png"))
        page.click("#indicators li[data-key=heating_renewal]")
        page.click("#tabs button[data-tab=tab-map]")

        pid = page.evaluate("window.twinViewer.featureIds('heating').find(k => "
                            "k.includes('RL-EW-3-4'))")
        page.evaluate(f"window.twinViewer.flyTo({pid!r})")
        page.click("#layers li[data-layer=buildings] input[type=checkbox]")
        page.click("#underground")
        page.wait_for_timeout(800)
        pos = page.evaluate(f"window.twinViewer.screenPosition({pid!r})")
        page.mouse.click(pos["x"], pos["y"])
        page.wait_for_function("window.twinViewer.picked !== null", timeout=30_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(IMG / "web_viewer_underground.png"))
        page.click("#underground")
        page.click("#layers li[data-layer=buildings] input[type=checkbox]")
        page.click("#close")

        page.evaluate("window.twinViewer.home()")
        page.click("#tabs button[data-tab=tab-tools]")
        page.check("#section")
        for plane, value in (("x:min", 30), ("x:max", 62), ("y:min", 35), ("y:max", 70)):
            page.fill(f"#section-box input[data-plane='{plane}']", str(value))
        page.wait_for_timeout(1500)
        page.screenshot(path=str(IMG / "web_viewer_section.png"))
        browser.close()
    srv.should_exit = True
    if not web_only:
        desktop(twin_path)
    others = ("health_report.png", "desktop_iso.png", "desktop_underground.png",
              "desktop_renewal.png")
    for name in WEB + (() if web_only else others):
        sys.stdout.write(f"wrote {IMG / name}\n")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--web"]
    main(Path(args[0]) if args else ROOT / "out" / "demo.gpkg", web_only="--web" in sys.argv)

"""Shared by the web viewer's browser tests: the API on a free loopback port,
Debian's Chromium through Playwright (WebGL in software: SwiftShader), the
canvas as an image and image comparison against stored references."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import numpy as np
import uvicorn

from twin_api.app import create_app
from twin_api.settings import ApiSettings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
REF = Path(__file__).parent / "reference"
#: A fixed sun (and year) so that images and analyses are reproducible.
QUERY = "?sun=2025-06-21T10:00:00%2B08:00&year=2025"


@contextmanager
def serve(twin_path=None, tiles_dir=None, viewer_dir=None, *, settings=None):
    """``twin serve``'s app under uvicorn in a thread, for the browser: of
    ``twin_path`` (with 3D Tiles or another viewer folder), or of ``settings``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if settings is None:
        settings = ApiSettings(str(twin_path), tiles_dir=str(tiles_dir) if tiles_dir else None,
                               viewer_dir=str(viewer_dir) if viewer_dir else None)
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_viewer(b, url: str, query: str = QUERY, *, csp: bool = False, size=(1000, 700)):
    """A page with the viewer ready. Playwright's polling evaluates strings, which
    the viewer's Content-Security-Policy forbids, so tests bypass it unless
    ``csp`` (the XSS test keeps it and waits on the DOM only)."""
    page = b.new_page(viewport={"width": size[0], "height": size[1]}, bypass_csp=not csp,
                      timezone_id="Asia/Shanghai", accept_downloads=True)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{url}/viewer/{query}")
    if csp:
        page.wait_for_selector("#layers li[data-layer]", timeout=120_000)
    else:
        page.wait_for_function("window.twinViewer && (window.twinViewer.ready || "
                               "window.twinViewer.error)", timeout=120_000)
        assert page.evaluate("window.twinViewer.error") is None, page.errors
    return page


def canvas(page) -> np.ndarray:
    """The WebGL canvas alone (no panels) as an RGB array, after a fresh frame."""
    from PIL import Image

    page.evaluate("() => new Promise(r => { window.twinViewer.viewer.stage.requestRender(); "
                  "requestAnimationFrame(() => requestAnimationFrame(r)); })")
    url = page.evaluate("window.twinViewer.viewer.stage.renderer.domElement"
                        ".toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(BytesIO(data)).convert("RGB"), dtype=np.int16)


def diff_share(a: np.ndarray, b: np.ndarray, threshold: int = 40) -> float:
    """Share of pixels whose largest channel difference is over ``threshold``."""
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > threshold).mean())


def check_reference(img: np.ndarray, name: str, out_dir: Path, tolerance: float = 0.03
                    ) -> np.ndarray:
    """Compare with ``reference/<name>.png`` (rewrite with TWIN_UPDATE_REFERENCE=1)."""
    from PIL import Image

    path = REF / f"{name}.png"
    Image.fromarray(img.astype(np.uint8)).save(out_dir / f"{name}.png")
    if os.environ.get("TWIN_UPDATE_REFERENCE"):
        Image.fromarray(img.astype(np.uint8)).save(path)
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert img.shape == ref.shape
    share = diff_share(img, ref)
    assert share < tolerance, f"{share:.3f} of pixels differ from {path}; see {out_dir}"
    return ref

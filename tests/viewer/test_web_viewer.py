"""The web viewer in a real browser: Debian's Chromium driven by Playwright,
WebGL in software (SwiftShader), against the API serving the demo district.
Screenshots are kept in the test's tmp_path (pytest keeps the last runs)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from twin_api.app import create_app
from twin_api.settings import ApiSettings

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def server(demo_twin):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(ApiSettings(str(demo_twin))),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1000, "height": 700})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{server}/viewer/")
        pg.wait_for_function("window.twinViewer && (window.twinViewer.ready || "
                             "window.twinViewer.error)", timeout=120_000)
        assert pg.evaluate("window.twinViewer.error") is None, errors
        pg.wait_for_timeout(500)
        yield pg
        browser.close()


def _shot(page, path: Path) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    page.wait_for_timeout(300)
    data = page.screenshot(path=str(path))
    return np.asarray(Image.open(BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_viewer_lists_the_layers_the_api_has(page, server):
    import httpx2 as httpx

    cat = httpx.get(f"{server}/twin/layers").json()["layers"]
    with_meshes = set(page.evaluate("Object.keys(window.twinViewer.layers)"))
    listed = page.eval_on_selector_all("#layers li", "els => els.map(e => e.dataset.layer)")
    assert set(listed) == with_meshes
    assert with_meshes <= {x["name"] for x in cat if x["features"] > 0}
    assert {"buildings", "heating", "terrain"} <= with_meshes
    # catalogue order is kept
    order = [x["name"] for x in cat]
    assert listed == sorted(listed, key=order.index)


def test_switching_a_layer_off_changes_the_picture(page, tmp_path):
    before = _shot(page, tmp_path / "all.png")
    page.click("#layers li[data-layer=buildings] input[type=checkbox]")
    after = _shot(page, tmp_path / "no_buildings.png")
    page.click("#layers li[data-layer=buildings] input[type=checkbox]")
    changed = np.abs(before - after).sum(axis=2) > 30
    assert changed.mean() > 0.01, "hiding the buildings did not change the image"
    assert before.std() > 10  # something was drawn at all


def test_clicking_a_feature_shows_its_attributes(page):
    fid = page.evaluate("Object.keys(window.twinViewer.features).find(k => "
                        "window.twinViewer.features[k].userData.layer === 'buildings')")
    assert page.evaluate(f"window.twinViewer.flyTo({fid!r})")
    page.wait_for_timeout(500)
    pos = page.evaluate(f"window.twinViewer.screenPosition({fid!r})")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_function("window.twinViewer.picked !== null", timeout=20_000)
    picked = page.evaluate("window.twinViewer.picked")
    table = page.inner_text("#info-table")
    assert picked == fid and fid in table and "storeys" in table


def test_underground_mode_reveals_pipes_under_the_ground(page, tmp_path):
    # look at a heating pipe from above: the terrain hides it until X-ray
    pid = page.evaluate("Object.keys(window.twinViewer.features).find(k => "
                        "window.twinViewer.features[k].userData.layer === 'heating')")
    page.evaluate(f"window.twinViewer.flyTo({pid!r})")
    for layer in ("buildings",):
        page.click(f"#layers li[data-layer={layer}] input[type=checkbox]")
    hidden = _shot(page, tmp_path / "ground.png")
    page.click("#underground")
    xray = _shot(page, tmp_path / "xray.png")
    page.click("#underground")
    for layer in ("buildings",):
        page.click(f"#layers li[data-layer={layer}] input[type=checkbox]")
    # heating is orange (#f08c00-ish): count orange pixels
    def orange(img):
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        return int(((r > 180) & (g > 80) & (g < 190) & (b < 90)).sum())

    assert orange(xray) > orange(hidden) + 50


def test_analysis_highlight_colours_the_old_heating_pipes(page, server, tmp_path):
    import httpx2 as httpx

    page.evaluate("window.twinViewer.home()")
    before = _shot(page, tmp_path / "plain.png")
    page.select_option("#highlight", "renewal")
    page.wait_for_function("window.twinViewer.highlight !== null", timeout=30_000)
    res = page.evaluate("window.twinViewer.highlight")
    api = httpx.get(f"{server}/twin/analyses/highlight",
                    params={"analysis": res["spec"]}).json()
    assert res["groups"][0]["ids"] == api["groups"][0]["ids"] and len(api["groups"][0]["ids"])
    try:
        after = _shot(page, tmp_path / "renewal.png")
        legend = page.inner_text("#legend")
    finally:
        page.select_option("#highlight", "")
        page.wait_for_function("window.twinViewer.highlight === null")
    restored = _shot(page, tmp_path / "restored.png")

    def red(img):
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        return int(((r > 170) & (g < 90) & (b < 90)).sum())

    assert red(after) > red(before) + 3000  # thick red lines over the whole district
    assert "awaiting renewal" in legend
    assert np.abs(restored - before).max(axis=2).mean() < 2  # back to the plain scene
    bad = httpx.get(f"{server}/twin/analyses/highlight", params={"analysis": "flood"})
    assert bad.status_code == 400 and "unknown highlight" in bad.json()["detail"]


def test_measuring_the_distance_between_two_towers(page, server):
    import httpx2 as httpx

    page.evaluate("window.twinViewer.home()")
    if page.is_visible("#info"):
        page.click("#close")
    # two towers clear of the side panel, as far apart on screen as can be
    towers = page.evaluate("""() => {
        const v = window.twinViewer;
        return Object.keys(v.features).filter(k => v.features[k].userData.layer ===
            'buildings' && v.features[k].userData.storeys >= 26).map(k => {
            const p = v.screenPosition(k); return [k, p.x, p.y]; })
          .filter(([k, x, y]) => x > 320 && x < 980 && y > 40 && y < 680);
    }""")
    a, b = min(towers, key=lambda t: t[1])[0], max(towers, key=lambda t: t[1])[0]
    page.check("#measure")
    try:
        for fid in (a, b):
            pos = page.evaluate(f"window.twinViewer.screenPosition({fid!r})")
            page.mouse.click(pos["x"], pos["y"])
            if fid == a:
                assert "second point" in page.inner_text("#measurement")
        page.wait_for_function("window.twinViewer.measurement", timeout=10_000)
        m = page.evaluate("window.twinViewer.measurement")
        text = page.inner_text("#measurement")
    finally:
        page.uncheck("#measure")
    assert m["distance"] == pytest.approx((m["horizontal"] ** 2 + m["dz"] ** 2) ** 0.5)
    assert f"{m['distance']:.2f} m" in text
    # each click landed on its tower: the horizontal distance lies between the nearest
    # and the farthest corners of the two towers' boxes (from the API)
    ba, bb = (np.array(httpx.get(f"{server}/twin/features/{f}").json()["bbox"]) for f in (a, b))
    ca = np.array([[ba[i], ba[j]] for i in (0, 3) for j in (1, 4)])
    cb = np.array([[bb[i], bb[j]] for i in (0, 3) for j in (1, 4)])
    d = np.linalg.norm(ca[:, None] - cb[None], axis=2)
    assert d.min() - 1 <= m["horizontal"] <= d.max() + 1

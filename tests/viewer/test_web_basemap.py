"""The optional base map: tiles of a configured XYZ source, draped over the
twin's extent through the longitudes and latitudes the API computes. A tile
server in the test answers every tile with a magenta image and records
which tiles were asked for."""

from __future__ import annotations

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import pytest
from PIL import Image
from web_browser import QUERY, browser, canvas, open_viewer, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def tile_server():
    buf = BytesIO()
    Image.new("RGB", (256, 256), (255, 0, 255)).save(buf, "PNG")
    png = buf.getvalue()
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", asked
    srv.shutdown()
    srv.server_close()


def test_base_map_tiles_cover_the_twin_and_show_under_it(demo_twin, tile_server, tmp_path):
    tiles_url, asked = tile_server
    with serve(demo_twin) as url, browser() as b:
        page = open_viewer(b, url, QUERY + "&basemap=" + tiles_url + "/{z}/{x}/{y}.png"
                           + "&attribution=Tiles%20%3Cb%3Etest%3C/b%3E")
        assert asked == []  # off by default
        page.evaluate("window.twinViewer.viewer.layers.set('buildings', {visible: false})")
        before = canvas(page)
        page.click("#tabs button[data-tab=tab-tools]")
        page.check("#basemap")
        page.wait_for_function("window.twinViewer.basemap", timeout=60_000)
        after = canvas(page)
        Image.fromarray(after.astype("uint8")).save(tmp_path / "basemap.png")
        res = page.evaluate("window.twinViewer.basemap")
        attribution = page.inner_text("#attribution")
        hidden = page.evaluate("[window.twinViewer.layers.terrain.visible, "
                               "window.twinViewer.layers.landuse.visible]")
        page.uncheck("#basemap")
        page.wait_for_function("!window.twinViewer.viewer.basemap.mesh")
        restored = canvas(page)
        shown = page.evaluate("[window.twinViewer.layers.terrain.visible, "
                              "window.twinViewer.layers.landuse.visible]")
    z = res["zoom"]
    xs = sorted({int(p.split("/")[2]) for p in asked})
    ys = sorted({int(p.split("/")[3].split(".")[0]) for p in asked})
    assert len(asked) == res["tiles"] and all(p.startswith(f"/{z}/") for p in asked)
    # the centre of the twin (pyproj here, independent of the viewer) is on a tile asked for
    from pyproj import Transformer

    import twin

    with twin.open_twin(demo_twin, readonly=True) as store:
        bb = store.info().bounds
    lon, lat = Transformer.from_crs("EPSG:4546", "EPSG:4326", always_xy=True).transform(
        (bb[0] + bb[3]) / 2, (bb[1] + bb[4]) / 2)
    assert 111 < lon < 112.5 and 40 < lat < 41.5  # Hohhot
    n = 2 ** z
    tx = int((lon + 180) / 360 * n)
    ty = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    assert xs[0] <= tx <= xs[-1] and ys[0] <= ty <= ys[-1]
    assert len(xs) <= 9 and len(ys) <= 9

    def magenta(img):
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        return int(((r > 150) & (g < 120) & (b > 150)).sum())

    assert magenta(after) > magenta(before) + 10_000
    assert hidden == [False, False] and shown == [True, True]  # the map replaced the ground
    assert magenta(restored) == magenta(before)
    assert attribution == "Tiles <b>test</b>"  # as text

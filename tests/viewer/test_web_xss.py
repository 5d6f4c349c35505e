"""Data from imported files is text in the web viewer, never markup.

A GeoJSON file imported through the real converter carries an attribute
named ``<img src=x onerror=...>`` with a ``<script>`` value and a name that
closes a tag; a user layer has a title with markup. In Chromium, with the
viewer's Content-Security-Policy in force, they show as the characters
they are and no script runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from web_browser import browser, open_viewer, serve

import twin
from twin.layers import Layer

pytestmark = pytest.mark.browser

WEB = Path(__file__).resolve().parents[2] / "viewer" / "web"
EVIL_NAME = '<img src=x onerror="window.__pwned=1">'
EVIL_VALUE = '<script>window.__pwned=2</script>'
EVIL_TITLE = '</span><img src=y onerror="window.__pwned=3">'
EVIL_FEATURE = '"><svg onload="window.__pwned=4">'


@pytest.fixture(scope="module")
def evil_twin(tmp_path_factory):
    from converters import import_file

    tmp = tmp_path_factory.mktemp("xss")
    src = tmp / "evil.geojson"
    x, y = 559000.0, 4520800.0
    src.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::4546"}}, "features": [{
        "type": "Feature", "id": "evil-1",
        "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 30, y], [x + 30, y + 20],
                                                         [x, y + 20], [x, y]]]},
        "properties": {"layer": "evil", "name": EVIL_FEATURE, "height": 12.0,
                       EVIL_NAME: EVIL_VALUE, "function": EVIL_VALUE}}]}), encoding="utf-8")
    path = tmp / "evil.gpkg"
    with twin.create_twin(path, "EPSG:4546") as store:
        store.add_layer(Layer(name="evil", title=EVIL_TITLE, title_zh=EVIL_VALUE,
                              group="above_ground", colour="#aa3344"))
        import_file(store, src, options={"id_prefix": "x"})
    return path


def test_the_viewer_code_never_parses_data_as_html():
    sources = [p for p in WEB.rglob("*.js") if "node_modules" not in p.parts]
    assert len(sources) > 5
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|"
                       r"createContextualFragment|DOMParser|\beval\(|new Function")
    offending = [f"{p.name}:{i + 1}" for p in sources
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines())
                 if sinks.search(line) and not line.lstrip().startswith("//")]
    assert offending == []
    assert "Content-Security-Policy" in (WEB / "index.html").read_text(encoding="utf-8")


def test_attribute_names_and_values_with_markup_show_as_text(evil_twin):
    with serve(evil_twin) as url, browser() as b:
        page = open_viewer(b, url, csp=True)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        # the layer title came as text
        title = page.inner_text("#layers li[data-layer=evil] .title")
        assert EVIL_TITLE in title and EVIL_VALUE in title
        # pick the building the way a presenter does: click it
        pos = page.evaluate("window.twinViewer.flyTo('x:evil-1').then(() => "
                            "window.twinViewer.screenPosition('x:evil-1'))")
        page.mouse.click(pos["x"], pos["y"])
        page.wait_for_selector("#info:not([hidden]) #info-table tr[data-key=function]",
                               timeout=30_000)
        rows = page.eval_on_selector_all("#info-table tr", "els => els.map(e => "
                                         "[e.querySelector('th').textContent, "
                                         "e.querySelector('td').textContent])")
        card_title = page.inner_text("#info-title")
        assert [EVIL_NAME, EVIL_VALUE] in [[k.strip(), v] for k, v in rows]
        assert card_title == EVIL_FEATURE
        # no element was made from the data, no script ran
        assert page.evaluate("document.querySelectorAll('#panel img, #info img, #info script, "
                             "#info svg, #panel script').length") == 0
        assert page.evaluate("window.__pwned") is None
        assert page.errors == []

"""Readings mode of the web viewer in Chromium: the demo district with its
meter readings (sample_models/hohhot_demo/sensors.py, a leak in the south
DMA from a known day), both scene sources. Moving the time slider across the
leak changes the colour of the south inlet's feature and the legend; the
values shown are the API's."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from builders import REPO
from web_browser import browser, open_viewer, serve

import twin
from twin.sensors.store import sensors_of
from viewer.tiles3d import export_3dtiles

pytestmark = pytest.mark.browser

LEAK = "2025-03-05"
BEFORE = "2025-03-04T03:00:00+08:00"  # a night before the leak
AFTER = "2025-03-06T03:00:00+08:00"  # the same hour of a night after it


@pytest.fixture(scope="module")
def metered(demo_gpkg, tmp_path_factory):
    """The demo with 8 days of readings, a leak in the south DMA from LEAK,
    and the feature of the south DMA's inlet (its meter and pressure logger)."""
    path = tmp_path_factory.mktemp("metered") / "demo.gpkg"
    shutil.copyfile(demo_gpkg, path)
    r = subprocess.run([sys.executable, str(REPO / "sample_models/hohhot_demo/sensors.py"),
                        str(path), "--days", "8", "--leak", LEAK],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with twin.open_twin(path, readonly=True) as store:
        s = sensors_of(store)
        from twin.sensors.model import ENTITY_SETS

        south = [t["feature_id"] for t in s.select(ENTITY_SETS["Things"])
                 if (t["properties"] or {}).get("role") == "inlet" and
                 t["properties"].get("dma") == "south"]
        tiles = tmp_path_factory.mktemp("metered_tiles")
        export_3dtiles(store, tiles)
    assert len(south) == 1
    return path, tiles, south[0]


@pytest.fixture(scope="module")
def pages(metered):
    path, tiles, _ = metered
    with serve(path, tiles) as url, browser() as b:
        out = {}
        for mode in ("scene", "tiles"):
            page = open_viewer(b, url, f"?tiles={int(mode == 'tiles')}&sun=2025-06-21T10:00:00"
                               "%2B08:00&year=2025")
            page.wait_for_function("window.twinViewer.panelsReady === true", timeout=120_000)
            out[mode] = page
        yield url, out
        for page in out.values():
            assert not page.errors


def _api(url, **params):
    import httpx2 as httpx

    r = httpx.get(f"{url}/twin/viewer/readings", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("mode", ["scene", "tiles"])
def test_the_slider_across_the_leak_recolours_the_south_inlet_and_the_legend(
        pages, metered, mode):
    url, out = pages
    page, south = out[mode], metered[2]
    options = page.eval_on_selector_all("#readings option", "os => os.map(o => o.value)")
    assert options == ["", "flow", "pressure"]
    shown = page.evaluate("window.twinViewer.showReadings('pressure')")
    assert shown["property"] == "pressure" and shown["unit"] == "kPa"
    assert not page.is_hidden("#readings-time")
    before = page.evaluate(f"window.twinViewer.setReadingsTime('{BEFORE}')")
    after = page.evaluate(f"window.twinViewer.setReadingsTime('{AFTER}')")
    # the leak drops the south DMA's pressure by 12 kPa: another colour, another legend
    assert after["values"][south]["value"] < before["values"][south]["value"] - 8
    assert before["colours"][south] != after["colours"][south]
    assert before["legend"] != after["legend"] and "kPa" in after["legend"]
    assert "2025-03-06 03:00" in after["legend"] and "2025-03-04 03:00" in before["legend"]
    # the slider stands at the time shown
    first = _ms(_api(url, property="pressure")["time_range"][0])
    assert int(page.input_value("#readings-time")) == (_ms(AFTER) - first) // 900_000
    if mode == "scene":  # the chunk draws the feature in the colour the mode gives it
        assert page.evaluate(f"window.twinViewer.featureColour('{south}')") == \
            after["colours"][south]
        page.evaluate(f"window.twinViewer.setReadingsTime('{BEFORE}')")
        assert page.evaluate(f"window.twinViewer.featureColour('{south}')") == \
            before["colours"][south]


def _ms(text):
    from twin.sensors.model import to_ms

    return to_ms(text)


@pytest.mark.parametrize("prop", ["pressure", "flow"])
def test_the_values_shown_are_the_apis_and_the_card_reads_the_sliders_time(
        pages, metered, prop):
    url, out = pages
    page, south = out["scene"], metered[2]
    page.evaluate(f"window.twinViewer.showReadings('{prop}')")
    for at in (BEFORE, AFTER):
        shown = page.evaluate(f"window.twinViewer.setReadingsTime('{at}')")
        api = _api(url, property=prop, at=at)
        assert shown["values"] == {k: {"value": v["value"], "unit": v["unit"],
                                       "time": v["time"]} for k, v in api["features"].items()}
        assert len(shown["values"]) == api["properties"][[p["name"] for p in api[
            "properties"]].index(prop)]["features"]
        page.evaluate(f"window.twinViewer.pick('{south}')")
        cell = page.inner_text("#info-table tr[data-key=reading] td")
        number, unit = cell.rsplit(" ", 1)
        assert unit == api["unit"]
        assert float(number.replace(",", "")) == pytest.approx(
            api["features"][south]["value"], abs=0.051)
        assert page.inner_text("#info-table tr[data-key=reading_time] td") == \
            at[:10] + " " + at[11:16]  # the page's clock is Beijing time, as the reading's
    page.evaluate("window.twinViewer.showReadings('')")
    assert page.evaluate("window.twinViewer.readings()") is None
    assert page.inner_text("#legend") == ""


def test_play_moves_the_slider_and_pause_stops_it(pages):
    _, out = pages
    page = out["scene"]
    page.evaluate("window.twinViewer.showReadings('flow')")
    page.evaluate("window.twinViewer.setReadingsTime('2025-03-02T00:00:00+08:00')")
    start = int(page.input_value("#readings-time"))
    page.click("#readings-play")
    page.wait_for_function(f"Number(document.getElementById('readings-time').value) >= "
                           f"{start + 8}", timeout=30_000)
    page.click("#readings-play")
    stopped = int(page.input_value("#readings-time"))
    page.wait_for_timeout(1500)
    assert int(page.input_value("#readings-time")) <= stopped + 4  # one tick in flight
    at = page.evaluate("window.twinViewer.readings().at")
    assert at > "2025-03-01T18:00:00"
    page.evaluate("window.twinViewer.showReadings('')")

"""The two scene sources answer the same: the demo district as one lean GLB
(``?tiles=0``) and as a 3D Tiles stream (``?tiles=1``) give the same search
result, the same feature under the same click, and colour the same
features for an analysis highlight."""

from __future__ import annotations

import pytest
from web_browser import browser, open_viewer, serve

import twin
from viewer.tiles3d import export_3dtiles

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pages(demo_twin, tmp_path_factory):
    tiles = tmp_path_factory.mktemp("demo_tiles")
    with twin.open_twin(demo_twin, readonly=True) as store:
        export_3dtiles(store, tiles)
    with serve(demo_twin, tiles) as url, browser() as b:
        out = {}
        for mode in ("scene", "tiles"):
            page = open_viewer(b, url, f"?tiles={int(mode == 'tiles')}&sun=2025-06-21T10:00:00"
                               "%2B08:00&year=2025")
            assert page.evaluate("window.twinViewer.mode") == mode
            out[mode] = page
        # the stream has settled: every tile the home view needs is in
        out["tiles"].wait_for_function("window.twinViewer.loadProgress() === 1 && "
                                       "window.twinViewer.tilesLoaded > 0", timeout=120_000)
        yield out
        for page in out.values():
            assert not page.errors


def _both(pages, js):
    return {mode: page.evaluate(js) for mode, page in pages.items()}


def test_the_stream_holds_features_of_the_scene(pages):
    """Tiles refine by adding: from the home view the stream holds the prominent
    features; each of them is a feature of the scene, under the same id."""
    ids = _both(pages, "window.twinViewer.featureIds()")
    assert len(ids["scene"]) > 4000 and len(ids["tiles"]) > 1000
    assert set(ids["tiles"]) <= set(ids["scene"])


def test_search_finds_the_same_feature(pages):
    found = _both(pages, "window.twinViewer.search('RL-EW-3-4')")
    assert found["scene"] == found["tiles"] is not None
    assert found["scene"].startswith("hohhot:RL-EW-3-4")
    cards = {m: p.inner_text("#info-table") for m, p in pages.items()}
    assert cards["scene"] == cards["tiles"]
    exact = _both(pages, "window.twinViewer.search('hohhot:B-0042')")
    assert exact == {"scene": "hohhot:B-0042", "tiles": "hohhot:B-0042"}


def test_a_click_picks_the_same_feature(pages):
    picked = {}
    for mode, page in pages.items():
        page.evaluate("window.twinViewer.flyTo('hohhot:B-0042')")
        page.wait_for_function("window.twinViewer.loadProgress() === 1", timeout=60_000)
        pos = page.evaluate("window.twinViewer.screenPosition('hohhot:B-0042')")
        picked[mode] = page.evaluate(f"window.twinViewer.hitAt({pos['x']}, {pos['y']}).featureId")
    assert picked == {"scene": "hohhot:B-0042", "tiles": "hohhot:B-0042"}


def test_a_highlight_colours_the_same_features(pages):
    for page in pages.values():
        page.evaluate("window.twinViewer.home()")
    pages["tiles"].wait_for_function("window.twinViewer.loadProgress() === 1", timeout=60_000)
    _both(pages, "window.twinViewer.showHighlight('renewal').then(() => null)")
    pages["tiles"].wait_for_function("window.twinViewer.loadProgress() === 1", timeout=60_000)
    # what is coloured and what is loaded, read in one go: tiles keep streaming
    coloured, loaded = {}, {}
    for mode, page in pages.items():
        coloured[mode], loaded[mode] = page.evaluate(
            "[window.twinViewer.colouredIds(), window.twinViewer.featureIds()]")
    assert len(coloured["scene"]) > 100 and len(coloured["tiles"]) > 50
    # the same features, as far as the stream has brought them in
    assert coloured["tiles"] == sorted(set(coloured["scene"]) & set(loaded["tiles"]))
    _both(pages, "window.twinViewer.showHighlight('')")

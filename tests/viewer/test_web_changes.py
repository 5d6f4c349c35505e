"""The change view of the web viewer in Chromium: the demo district with its
2026 buildings delivery applied as an update (sample_models/hohhot_demo/
years.py: 2 new buildings, 3 retrofitted, 3 demolished). The choice of
moments is the API's timeline; the colours are the API's ``changes:``
highlight, drawn on the features in the scene."""

from __future__ import annotations

import shutil
import sys

import pytest
from builders import DEMO_DIR
from web_browser import browser, open_viewer, serve

import twin

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def updated(demo_gpkg, tmp_path_factory):
    """The demo, then its 2026 buildings as an update; the base batch's id."""
    from converters import import_file

    sys.path.insert(0, str(DEMO_DIR))
    import years

    tmp = tmp_path_factory.mktemp("changes")
    years.main(tmp / "years")
    path = tmp / "demo.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with twin.open_twin(path) as store:
        base = store.batches()[-1].id
        import_file(store, tmp / "years" / "2026" / "buildings.city.json",
                    options={"id_prefix": "hohhot"}, on_conflict="update",
                    retire_missing="layers")
    return path, base


def _api(url, path, **params):
    import httpx2 as httpx

    r = httpx.get(f"{url}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_changes_since_an_import_colour_what_the_update_changed(updated):
    path, base = updated
    with serve(path) as url, browser() as b:
        page = open_viewer(b, url)
        assert page.is_hidden("#changes-row")
        page.select_option("#highlight", "changes")
        page.wait_for_function("window.twinViewer.highlight !== null", timeout=60_000)
        assert page.is_visible("#changes-row")
        # the choice: every import but the newest, newest first; by default the base
        timeline = _api(url, "/twin/batches", order="newest")["batches"]
        values = page.eval_on_selector_all("#changes-since option", "els => els.map(e => e.value)")
        assert values == [str(t["id"]) for t in timeline[1:]]
        assert page.input_value("#changes-since") == str(base)
        labels = page.eval_on_selector_all("#changes-since option", "els => els.map(e => e.text)")
        assert all(f"#{t['id']} " in lab for t, lab in zip(timeline[1:], labels, strict=True))
        api = _api(url, "/twin/analyses/highlight", analysis=f"changes:{base}")
        groups = {g["label"]: g for g in api["groups"]}
        assert {k: len(g["ids"]) for k, g in groups.items()} == {
            "added": 2, "changed": 3, "removed": 3}
        shown = page.evaluate("window.twinViewer.highlight")
        assert [g["ids"] for g in shown["groups"]] == [g["ids"] for g in api["groups"]]
        in_scene = set(page.evaluate("window.twinViewer.featureIds()"))
        assert not set(groups["removed"]["ids"]) & in_scene  # demolished: not drawn now
        assert page.evaluate("window.twinViewer.colouredIds()") == sorted(
            set(groups["added"]["ids"]) | set(groups["changed"]["ids"]))
        for kind in ("added", "changed"):
            for fid in groups[kind]["ids"]:
                assert page.evaluate(f"window.twinViewer.featureColour('{fid}')") == \
                    groups[kind]["colour"].lower(), (kind, fid)
        legend = page.inner_text("#legend")
        assert "added (2)" in legend and "changed (3)" in legend and "removed (3)" in legend
        assert "not in the twin now" in legend  # the removed ones are explained
        # another moment: since the update itself nothing changed
        page.evaluate("window.twinViewer.highlight = null")
        newest_but_one = str(timeline[1]["id"])
        page.select_option("#changes-since", newest_but_one)
        page.wait_for_function("window.twinViewer.highlight !== null", timeout=60_000)
        again = _api(url, "/twin/analyses/highlight", analysis=f"changes:{newest_but_one}")
        assert [g["ids"] for g in page.evaluate("window.twinViewer.highlight")["groups"]] == \
            [g["ids"] for g in again["groups"]]
        page.select_option("#highlight", "")
        page.wait_for_function("window.twinViewer.highlight === null")
        assert page.is_hidden("#changes-row") and page.evaluate(
            "window.twinViewer.colouredIds()") == []
        assert not page.errors

"""The region one-map scene in the web viewer (``/viewer/?region=1`` on a
region's server): the region's own tiles and a member's, streamed through
the region's ``/federation/tileset.json`` as external tilesets."""

from __future__ import annotations

import pytest
from web_browser import browser, open_viewer, serve

import twin
from twin_api.settings import ApiSettings
from viewer.tiles3d import export_3dtiles

pytestmark = pytest.mark.browser


def test_region_scene_streams_the_members_tiles(city, demo_gpkg, tmp_path):
    """The region (the small city) and its member (the Hohhot district, around
    it) each export 3D Tiles; the region's viewer loads both through the
    region's server."""
    own_tiles, member_tiles = tmp_path / "own", tmp_path / "member"
    export_3dtiles(city, own_tiles)
    with twin.open_twin(demo_gpkg, readonly=True) as store:
        export_3dtiles(store, member_tiles)
    with serve(settings=ApiSettings(str(demo_gpkg), tiles_dir=str(member_tiles))) as member:
        members = tmp_path / "members.toml"
        members.write_text('[federation]\nname = "region"\nlevel = "region"\n\n'
                           f'[[members]]\nname = "hohhot"\nlevel = "city"\nurl = "{member}"\n')
        settings = ApiSettings(city.path, tiles_dir=str(own_tiles), members_file=str(members))
        with serve(settings=settings) as region, browser() as b:
            page = open_viewer(b, region, "?region=1&sun=2025-06-21T10:00:00%2B08:00&year=2025",
                               size=(800, 600))
            assert page.evaluate("window.twinViewer.mode") == "tiles"
            # both twins' tiles, however the renderer orders their requests (the
            # member's alone can load first and leave the progress at 1 a moment)
            page.wait_for_function(
                "window.twinViewer.loadProgress() === 1 && ['hohhot:', 'test:'].every("
                "p => window.twinViewer.featureIds().some(i => i.startsWith(p)))",
                timeout=180_000, polling=250)
            assert not page.errors
            ids = page.evaluate("window.twinViewer.featureIds()")
    # the region's own buildings and the member's, in one scene
    assert any(i.startswith("hohhot:") for i in ids)
    assert any(i.startswith("test:") for i in ids)

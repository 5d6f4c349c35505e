"""IFC georeferencing sources and the placement check on BIM models: the
IFC2X3 property sets on the IfcSite (as Revit's exporter writes them) win
over a default site latitude; a model placed far from the twin's CRS is
refused unless forced; the summary says which source placed it and where
the others would have."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from ifc_models import Box, build_model
from pyproj import Geod, Transformer

import twin
from converters import import_file
from twin.errors import ImportFailedError
from twin.query import Query

#: Revit's default project location (Boston, MA): what a model carries when
#: nobody set its site.
BOSTON = (42.3584, -71.0598)
LHASA = (29.6525, 91.1721)
#: The survey point in Shenzhen, EPSG:4547 (CGCS2000 / 3-degree GK CM 114E).
E0, N0, H0 = 502_340.0, 2_493_150.0, 12.5
MAP_PSETS = {
    "ePSet_MapConversion": {"Eastings": E0, "Northings": N0, "OrthogonalHeight": H0,
                            "XAxisAbscissa": 0.0, "XAxisOrdinate": 1.0, "Scale": 1.0},
    "ePSet_ProjectedCRS": {"Name": "EPSG:4547", "GeodeticDatum": "China 2000"},
}
WALL = Box("IfcWall", (0.0, 0.0, 0.0), (20.0, 0.3, 6.0), name="W1")


def _features(store, **kw):
    return list(store.query(Query(**kw)))


def test_ifc2x3_map_conversion_on_the_site_wins_over_the_default_latitude(tmp_path,
                                                                          monkeypatch):
    path = build_model(tmp_path / "revit.ifc", monkeypatch, latlon=BOSTON,
                       site_psets=MAP_PSETS, boxes=(WALL,))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    res = import_file(store, path)
    g = res.report["source"]["georeferencing"]
    assert g["method"] == "ePSet_MapConversion on the IfcSite" and g["crs"] == "EPSG:4547"
    wall = next(f for f in _features(store, types=("IfcWall",), with_meshes=True))
    v = wall.mesh.vertices
    # local X points north (abscissa 0, ordinate 1): the 20 m wall runs north from the origin
    assert np.hypot(v[:, 0] - E0, v[:, 1] - N0).min() < 1e-6
    assert v[:, 1].max() - v[:, 1].min() == pytest.approx(20.0)
    assert v[:, 2].min() == pytest.approx(H0)
    # the site's latitude is an alternative, as far away as Boston is from Shenzhen
    (alt,) = g["alternatives"]
    assert alt["method"].startswith("IfcSite RefLatitude")
    lon, lat = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True).transform(E0, N0)
    far = Geod(ellps="WGS84").inv(lon, lat, BOSTON[1], BOSTON[0])[2]
    assert alt["distance_m"] == pytest.approx(far, rel=1e-4) and far > 12_000_000
    texts = [n.text for n in res.notes]
    assert any(t.startswith("not used: IfcSite RefLatitude") and "km away" in t for t in texts)
    assert any(t.startswith("placement:") and "within the area of use" in t for t in texts)
    store.close()


def test_project_property_sets_still_come_first(tmp_path, monkeypatch):
    """ifcopenshell's own georeferencing API writes the sets on the IfcProject."""
    import ifcopenshell
    import ifcopenshell.api.georeference

    path = build_model(tmp_path / "p.ifc", monkeypatch, latlon=BOSTON, boxes=(WALL,))
    m = ifcopenshell.open(str(path))
    ifcopenshell.api.georeference.add_georeferencing(m)
    ifcopenshell.api.georeference.edit_georeferencing(
        m, projected_crs={"Name": "EPSG:4547"},
        coordinate_operation={"Eastings": E0, "Northings": N0, "OrthogonalHeight": H0})
    m.write(str(path))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    g = import_file(store, path).report["source"]["georeferencing"]
    assert g["method"] == "ePSet_MapConversion on the IfcProject"
    assert [a["method"].split()[0] for a in g["alternatives"]] == ["IfcSite"]
    store.close()


def test_a_model_placed_by_a_far_latitude_is_refused_then_forced(tmp_path, monkeypatch):
    """No map conversion, a site latitude in Lhasa, a twin in Shenzhen's zone:
    refused, naming the file, the extent, the CRS's area of use and the likely
    cause; accepted with force, with a warning kept in the summary."""
    path = build_model(tmp_path / "lhasa.ifc", monkeypatch, latlon=LHASA, boxes=(WALL,))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    with pytest.raises(ImportFailedError) as err:
        import_file(store, path)
    msg = str(err.value)
    for part in ("lhasa.ifc", "outside the area of use of EPSG:4547", "China",
                 "placed by IfcSite RefLatitude/RefLongitude", "--force", "Extent found",
                 "lon 91.1"):
        assert part in msg, part
    info = store.info()
    assert (info.feature_count, info.batch_count) == (0, 0)
    res = import_file(store, path, force=True)
    assert res.features == 4  # site, building, storey, wall
    warn = [n for n in res.notes if n.level == "warn" and "--force" in n.text]
    assert warn and "outside the area of use" in warn[0].text
    assert res.report["placement"]["forced"] is True
    store.close()


def test_a_model_on_the_far_side_of_the_globe_is_refused_even_when_forced(
        tmp_path, monkeypatch, city):
    """Boston in a Hohhot twin: the transverse Mercator zone of 111 E puts it
    15,000 km north, no place on Earth: every element with geometry is absurd."""
    path = build_model(tmp_path / "boston.ifc", monkeypatch, latlon=BOSTON, boxes=(WALL,))
    before = city.info()
    for force in (False, True):
        with pytest.raises(ImportFailedError, match="boston.ifc.*all 2 features with "
                           "coordinates have absurd ones.*IfcSite RefLatitude"):
            import_file(city, path, force=force)
    after = city.info()
    assert (after.feature_count, after.batch_count) == (before.feature_count, before.batch_count)


def test_cli_refuses_with_exit_2_and_accepts_with_force(tmp_path, monkeypatch):
    from twin_cli.main import cli

    path = build_model(tmp_path / "lhasa.ifc", monkeypatch, latlon=LHASA, boxes=(WALL,))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    store.close()
    before = (tmp_path / "t.gpkg").read_bytes()
    out = CliRunner().invoke(cli, ["import", str(path), "--twin", str(tmp_path / "t.gpkg")])
    assert out.exit_code == 2, out.output
    assert "--force" in out.output and "lhasa.ifc" in out.output
    assert (tmp_path / "t.gpkg").read_bytes() == before
    out = CliRunner().invoke(cli, ["import", str(path), "--twin", str(tmp_path / "t.gpkg"),
                                   "--force"])
    assert out.exit_code == 0, out.output
    assert "placement check overridden (--force)" in out.output


def test_a_map_conversion_naming_no_crs_is_an_error_not_a_fallback_to_latitude(
        tmp_path, monkeypatch):
    psets = {"ePSet_MapConversion": MAP_PSETS["ePSet_MapConversion"],
             "ePSet_ProjectedCRS": {"Name": "my survey grid"}}
    path = build_model(tmp_path / "nocrs.ifc", monkeypatch, latlon=BOSTON, site_psets=psets,
                       boxes=(WALL,))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    with pytest.raises(ImportFailedError, match="ePSet_ProjectedCRS.Name on the IfcSite.*--crs"):
        import_file(store, path)
    res = import_file(store, path, crs="EPSG:4547")
    assert res.report["source"]["georeferencing"]["method"] == \
        "ePSet_MapConversion on the IfcSite"
    store.close()

"""The twin opened by GDAL/OGR, the library QGIS reads GeoPackages with."""

import os
import shutil
import subprocess

import numpy as np
import pyogrio
import pytest

import twin

pytestmark = pytest.mark.gdal


def test_every_layer_is_listed_with_its_geometry_type(city):
    listed = dict(pyogrio.list_layers(city.path))
    for layer in twin.STANDARD_LAYERS:
        assert layer.name in listed
    assert listed["buildings"] == "MultiPolygon"
    assert listed["heating"] == "LineString Z"
    assert listed["pipe_nodes"] == "Point Z"


def test_gis_reads_footprints_attributes_and_crs(city):
    meta, fids, geoms, fields = pyogrio.raw.read(city.path, layer="buildings",
                                                 return_fids=True)
    assert meta["crs"] == "EPSG:4546"
    names = list(meta["fields"])
    assert len(geoms) == 3
    storeys = fields[names.index("storeys")]
    assert storeys.dtype.kind == "i"  # a typed attribute arrives as an integer column
    by_id = dict(zip(fields[names.index("feature_id")], storeys))
    assert by_id == {"test:B1": 6, "test:B2": 20, "test:B3": 4}
    import shapely

    areas = shapely.area(shapely.from_wkb(geoms))
    np.testing.assert_allclose(sorted(areas), [240.0] * 3)
    info = pyogrio.read_info(city.path, layer="heating")
    assert info["features"] == 1
    assert info["geometry_type"] == "LineString Z"


def test_spatial_filter_through_gdal(city):
    from builders import X0, Y0

    meta, _, geoms, fields = pyogrio.raw.read(city.path, layer="buildings",
                                           bbox=(X0 + 70, Y0 + 20, X0 + 120, Y0 + 60))
    names = list(meta["fields"])
    assert list(fields[names.index("feature_id")]) == ["test:B3"]


def test_import_history_is_visible_to_gis(city):
    meta, _, _, fields = pyogrio.raw.read(city.path, layer="twin_batches",
                                          read_geometry=False)
    assert list(fields[list(meta["fields"]).index("source")]) == ["small_city"]


@pytest.mark.skipif(shutil.which("ogrinfo") is None and not os.environ.get("CI"),
                    reason="ogrinfo comes from Debian's gdal-bin, which .ci/run installs")
def test_ogrinfo_reads_the_twin_without_warnings(city):
    out = subprocess.run(["ogrinfo", "-ro", "-so", city.path, "water_supply"],
                         capture_output=True, text=True, check=True)
    assert "Feature Count: 1" in out.stdout
    assert "Geometry: 3D Line String" in out.stdout
    assert 'ID["EPSG",4546]' in out.stdout
    listing = subprocess.run(["ogrinfo", "-ro", "-q", city.path], capture_output=True,
                             text=True, check=True)
    assert "Warning" not in listing.stderr, listing.stderr
    assert "twin_rtree" not in listing.stdout and "twin_meshes" not in listing.stdout

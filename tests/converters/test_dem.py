"""Ground heights from a DEM GeoTIFF (rasterio): 2D GIS pipes and survey points
without ground elevations get their heights from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import twin
from converters import import_file
from converters.dem import DemSampler

X0, Y0 = 559000.0, 4520800.0


def plane(x, y):
    return 1040.0 + 0.01 * (x - X0) + 0.02 * (y - Y0)


def _write_dem(path, crs="EPSG:4546", nodata_block=False):
    import rasterio
    from affine import Affine

    def from_origin(west, north, xres, yres):  # rasterio's own warns under affine 3.1
        return Affine(xres, 0.0, west, 0.0, -yres, north)

    res, w, h = 5.0, 80, 60  # 400 m x 300 m from (X0 - 50, Y0 - 50)
    left, top = X0 - 50, Y0 - 50 + h * res
    xs = left + (np.arange(w) + 0.5) * res
    ys = top - (np.arange(h) + 0.5) * res
    z = plane(xs[None, :], ys[:, None]).astype(np.float32)
    transform = from_origin(left, top, res, res)
    if crs != "EPSG:4546":  # the same surface sampled on a lon/lat grid
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4546", crs, always_xy=True)
        back = Transformer.from_crs(crs, "EPSG:4546", always_xy=True)
        lon0, lat1 = tr.transform(left, top)
        lon1, lat0 = tr.transform(left + w * res, top - h * res)
        dx, dy = (lon1 - lon0) / w, (lat1 - lat0) / h
        lons = lon0 + (np.arange(w) + 0.5) * dx
        lats = lat1 - (np.arange(h) + 0.5) * dy
        gx, gy = back.transform(*np.meshgrid(lons, lats))
        z = plane(gx, gy).astype(np.float32)
        transform = from_origin(lon0, lat1, dx, dy)
    if nodata_block:
        z[:, 40:] = -9999
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=-9999) as ds:
        ds.write(z, 1)
    return path


def _pipes(path, x1=200.0):
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
           "features": [{"type": "Feature", "id": "H1", "properties": {
               "layer": "heating", "diameter_mm": 400, "depth_m": 1.5},
               "geometry": {"type": "LineString",
                            "coordinates": [[X0 + 10, Y0 + 20], [X0 + x1, Y0 + 120]]}}]}
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("crs, tol", [("EPSG:4546", 1e-4), ("EPSG:4326", 0.02)])
def test_2d_pipes_take_their_heights_from_the_dem(empty_twin, tmp_path, crs, tol):
    dem = _write_dem(tmp_path / "dem.tif", crs)
    res = import_file(empty_twin, _pipes(tmp_path / "p.geojson"), options={"dem": str(dem)})
    assert res.report["source"]["ground_from"]["dem"] == "dem.tif"
    f = next(empty_twin.query(twin.Query(layers=("heating",))))
    c = np.asarray(f.footprint.coords)
    # top of pipe 1.5 m below the ground, centre a radius lower
    expect = plane(c[:, 0], c[:, 1]) - 1.5 - 0.2
    assert c[:, 2] == pytest.approx(expect, abs=tol)
    assert f.attributes["depth_source"] == "depth_m+terrain"


def test_sampler_gives_nan_outside_and_next_to_nodata(tmp_path):
    s = DemSampler(_write_dem(tmp_path / "d.tif", nodata_block=True),
                   twin.create_twin(tmp_path / "t.gpkg", "EPSG:4546").crs)
    z = s.heights(np.array([[X0 + 10, Y0 + 10], [X0 + 300, Y0 + 10], [X0 - 500, Y0]]))
    assert z[0] == pytest.approx(plane(X0 + 10, Y0 + 10), abs=1e-4)
    assert np.isnan(z[1]) and np.isnan(z[2])


def test_a_pipe_off_the_dem_stays_2d_and_says_so(empty_twin, tmp_path):
    dem = _write_dem(tmp_path / "dem.tif", nodata_block=True)
    import_file(empty_twin, _pipes(tmp_path / "p.geojson", x1=300.0), options={"dem": str(dem)})
    f = next(empty_twin.query(twin.Query(layers=("heating",))))
    assert not f.footprint.has_z and f.attributes["depth_source"] == "unknown"


def test_survey_points_without_ground_take_it_from_the_dem(empty_twin, tmp_path):
    dem = _write_dem(tmp_path / "dem.tif")
    (tmp_path / "pts.csv").write_text(
        "点号,X,Y,地面高程,特征,附属物,井深,管线类型\n"
        f"JS1,{Y0 + 20},{X0 + 10},,,阀门,,JS\n"
        f"JS2,{Y0 + 20},{X0 + 110},1041.0,,,,JS\n", encoding="utf-8")
    (tmp_path / "lns.csv").write_text(
        "起点号,终点号,管线类型,起点埋深,终点埋深,管径,材质\n"
        "JS1,JS2,JS,1.2,1.2,DN200,PE\n", encoding="utf-8")
    res = import_file(empty_twin, tmp_path / "lns.csv", crs="EPSG:4546",
                      options={"points": str(tmp_path / "pts.csv"), "dem": str(dem)})
    assert res.report["source"]["ground_used"] == 1
    a = empty_twin.get("survey:JS1")
    assert a.footprint.z == pytest.approx(plane(X0 + 10, Y0 + 20), abs=1e-4)
    assert a.attributes["ground_source"] == "dem or terrain"
    b = empty_twin.get("survey:JS2")
    assert b.footprint.z == pytest.approx(1041.0) and "ground_source" not in b.attributes


def test_a_broken_dem_fails_the_import_and_leaves_the_twin(empty_twin, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00not a tiff really")
    before = empty_twin.count(twin.Query())
    with pytest.raises(twin.TwinError, match="bad.tif"):
        import_file(empty_twin, _pipes(tmp_path / "p.geojson"), options={"dem": str(bad)})
    assert empty_twin.count(twin.Query()) == before

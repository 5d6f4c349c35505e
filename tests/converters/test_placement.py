"""The placement check of every import, whatever its converter: absurd
coordinates skipped with their reason, imports far from the twin CRS's area
of use or implausibly large refused (the twin unchanged, exit 2) unless
forced, an import that skips everything refused, and the share skipped said."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import shapely
from builders import DEMO_DIR, dump_twin
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

import twin
from converters import import_file
from converters.placement import ABSURD_M, AreaOfUse, PlacementCheck
from twin.errors import ConversionError

# a street of Hohhot in EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger CM 111E)
X0, Y0 = 559_000.0, 4_520_800.0
CRS_4546 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}}


def _geojson(path, coords_list, crs=CRS_4546, **props):
    """Heating pipes along the given ``[(x, y, z), ...]`` lines."""
    feats = [{"type": "Feature", "id": f"p{i}",
              "geometry": {"type": "LineString", "coordinates": c},
              "properties": {"utility": "RL", "diameter_mm": 300, **props}}
             for i, c in enumerate(coords_list)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats, "crs": crs}))
    return path


def _street(n: int, scale: float = 1.0) -> list:
    return [[[(X0 + 60 * i) * scale, Y0 * scale, 1050.0], [(X0 + 60 * i + 60) * scale,
             Y0 * scale, 1050.0]] for i in range(n)]


def test_an_absurd_coordinate_skips_its_feature_and_the_rest_imports(empty_twin, tmp_path):
    lines = _street(4)
    lines[2] = [[X0, Y0, 1050.0], [9.2e18, Y0, 1050.0]]  # as in a real GeoJSON export
    lines[3] = [[X0, Y0, 1050.0], [X0 + 50, Y0, -2_147_483.648]]  # an int32 overflow in mm
    res = import_file(empty_twin, _geojson(tmp_path / "p.geojson", lines))
    assert res.features == 2 and res.skipped == 2
    reasons = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
    # 9.2e18 keeps no metre precision: the converter refuses it as garbage
    assert "(559000, 4.5208e+06, 1050, 9.2e+18" in reasons["p2"] or "9.2e+18" in reasons["p2"]
    assert "heights -2.14748e+06" in reasons["geojson:p:p3"]
    texts = [n.text for n in res.notes]
    assert "skipped 2 of 4 elements (50.0%):" in texts
    assert any(t.startswith("placement:") and "within the area of use" in t for t in texts)


def test_a_file_of_absurd_coordinates_is_refused_and_the_twin_unchanged(city, tmp_path):
    before = dump_twin(city.path)
    lines = [[[X0, Y0, 0.0], [1e11, Y0, 0.0]], [[1e11, Y0, 0.0], [X0, 1e11, 0.0]]]
    for force in (False, True):
        with pytest.raises(twin.ImportFailedError,
                           match="p.geojson: nothing imported: all 2 elements were skipped; "
                                 "the first: geojson:p:p0: .*no place on Earth"):
            import_file(city, _geojson(tmp_path / "p.geojson", lines), force=force)
    assert dump_twin(city.path) == before


def test_a_network_in_millimetres_is_refused_then_forced(city, tmp_path):
    """A 1.2 km heating main whose coordinates were written in millimetres
    (shifted into the zone, as a careless export does) spans 1,200 km."""
    lines = [[[X0 + 1000 * c[0][0] - 1000 * X0, Y0 + 1000 * (c[0][1] - Y0), 1050.0],
              [X0 + 1000 * c[1][0] - 1000 * X0, Y0 + 1000 * (c[1][1] - Y0), 1050.0]]
             for c in _street(20)]
    src = _geojson(tmp_path / "mm.geojson", lines)
    before = dump_twin(city.path)
    with pytest.raises(twin.ImportFailedError) as err:
        import_file(city, src)
    msg = str(err.value)
    assert "mm.geojson" in msg and "the features span 1,200 km" in msg
    assert "look like millimetres" in msg and "--force" in msg
    assert dump_twin(city.path) == before
    res = import_file(city, src, force=True)
    assert res.features == 20 and res.report["placement"]["forced"] is True
    assert any(n.level == "warn" and n.text.startswith("placement check overridden")
               for n in res.notes)


def test_degrees_read_as_metres_are_refused_with_the_likely_cause(empty_twin, tmp_path):
    lines = [[[111.7, 40.8, 1050.0], [111.71, 40.8, 1050.0]]]  # WGS 84 labelled EPSG:4546
    with pytest.raises(twin.ImportFailedError, match="outside the area of use of EPSG:4546.*"
                       "longitude/latitude in degrees read as metres"):
        import_file(empty_twin, _geojson(tmp_path / "deg.geojson", lines))
    assert empty_twin.info().feature_count == 0


def test_one_feature_at_null_island_among_good_ones_is_refused_by_name(empty_twin, tmp_path):
    lines = _street(5) + [[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]]
    src = _geojson(tmp_path / "outlier.geojson", lines)
    with pytest.raises(twin.ImportFailedError,
                       match="1 features reach more than 200 km beyond .* while the rest is "
                             "inside \\(first: geojson:outlier:p5\\)"):
        import_file(empty_twin, src)
    assert import_file(empty_twin, src, force=True).features == 6


def test_a_survey_easting_of_1e11_skips_that_point_and_its_lines(empty_twin, tmp_path):
    survey = tmp_path / "survey"
    shutil.copytree(DEMO_DIR / "survey", survey)
    points = survey / "points.csv"
    text = points.read_text(encoding="gbk")
    row = next(r for r in text.splitlines() if r.startswith("JS002,"))
    bad = row.split(",")
    bad[2] = "100000000000.000"  # Y is the easting in a Chinese survey table
    points.write_text(text.replace(row, ",".join(bad)), encoding="gbk")
    res = import_file(empty_twin, survey / "lines.csv", crs="EPSG:4546",
                      options={"points": str(points)})
    skipped = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
    assert skipped and all("no place on Earth" in r for r in skipped.values())
    assert any("JS002" in k for k in skipped)
    assert res.features > 40  # the rest of the survey is in
    assert empty_twin.count(twin.Query(ids=tuple(skipped))) == 0


def test_an_import_that_skips_every_element_fails_naming_the_file_and_reasons(city, tmp_path):
    """Pipe nodes whose depth is a word: every feature is skipped."""
    feats = [{"type": "Feature", "id": f"n{i}",
              "geometry": {"type": "Point", "coordinates": [X0, Y0 + i, 1050.0]},
              "properties": {"layer": "pipe_nodes", "depth_m": "deep"}} for i in range(3)]
    src = tmp_path / "noid.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": feats,
                               "crs": CRS_4546}))
    before = dump_twin(city.path)
    with pytest.raises(twin.ImportFailedError,
                       match="noid.geojson: nothing imported: all 3 elements were skipped; "
                             "the first: n0: .*'depth_m' must be a number"):
        import_file(city, src)
    assert dump_twin(city.path) == before


def test_cli_exits_2_on_a_refused_placement_and_imports_with_force(tmp_path):
    from twin_cli.main import cli

    path = tmp_path / "t.gpkg"
    twin.create_twin(path, "EPSG:4546").close()
    src = _geojson(tmp_path / "deg.geojson", [[[111.7, 40.8, 0.0], [111.71, 40.8, 0.0]]])
    before = path.read_bytes()
    out = CliRunner().invoke(cli, ["import", str(src), "--twin", str(path)])
    assert out.exit_code == 2 and "deg.geojson" in out.output and "--force" in out.output
    assert path.read_bytes() == before
    out = CliRunner().invoke(cli, ["import", str(src), "--twin", str(path), "--force"])
    assert out.exit_code == 0, out.output
    assert "placement check overridden (--force)" in out.output
    assert "skipped none of 1 elements" in out.output


def test_a_twin_crs_without_an_area_of_use_checks_sizes_only():
    local = CRS.from_proj4("+proj=tmerc +lat_0=40 +lon_0=111 +k=1 +x_0=0 +y_0=0 "
                           "+ellps=GRS80 +units=m +no_defs")
    check = PlacementCheck(local, "x.geojson")
    assert check.area is None
    feats = [twin.Feature(id=f"f{i}", layer="heating", type="PipeSegment",
                          footprint=shapely.LineString(
                              [(i * 600_000.0, 0.0), (i * 600_000.0 + 10, 0.0)]))
             for i in range(3)]
    kept = list(check.screen(feats, lambda i, r: None))
    assert len(kept) == 3
    with pytest.raises(ConversionError, match="span 1,200 km"):
        check.verdict({})


@settings(max_examples=60, deadline=None)
@given(st.floats(-3e7, 3e7), st.floats(-3e7, 3e7))
def test_only_coordinates_far_beyond_the_area_of_use_are_absurd(x, y):
    """The projected box of EPSG:4546's area of use, and ABSURD_M around it,
    decide: a point is skipped exactly when it lies beyond that margin."""
    crs = CRS.from_epsg(4546)
    area = AreaOfUse.of(crs)
    check = PlacementCheck(crs, "h.geojson", force=True)
    f = twin.Feature(id="f", layer="pipe_nodes", type="Valve",
                     footprint=shapely.Point(x, y))
    skipped = []
    list(check.screen([f], lambda i, r: skipped.append(r)))
    b = area.box
    gap = np.hypot(max(0.0, b[0] - x, x - b[2]), max(0.0, b[1] - y, y - b[3]))
    assert bool(skipped) == (gap > ABSURD_M)

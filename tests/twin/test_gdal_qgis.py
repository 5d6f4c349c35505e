"""The twin as QGIS finds it, through GDAL (the library QGIS reads a
GeoPackage with): a default style per layer in ``layer_styles``, only the
layers (and two tables of records) listed, each opening cleanly, a spatial
index GDAL uses, and layer views that refuse writes saying why."""

from __future__ import annotations

import sqlite3
import subprocess

import pyogrio
import pytest
from builders import X0, Y0
from defusedxml import ElementTree

import twin
from twin.store.gpkg import qgis

pytestmark = pytest.mark.gdal

SE = "{http://www.opengis.net/se}"


def _ogrinfo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ogrinfo", *args], capture_output=True, text=True, timeout=120)


def _styles(path: str) -> dict[str, dict]:
    meta, _, _, fields = pyogrio.raw.read(path, layer="layer_styles", read_geometry=False)
    names = list(meta["fields"])
    rows = [dict(zip(names, vals)) for vals in zip(*fields)]
    return {r["f_table_name"]: r for r in rows if r["owner"] == qgis.OWNER}


def test_layer_styles_hold_each_layers_catalogue_colour_as_qml_and_sld(city):
    styles = _styles(city.path)
    layers = city.layers()
    assert set(styles) == {la.name for la in layers}
    for layer in layers:
        row = styles[layer.name]
        assert row["useAsDefault"] and row["f_geometry_column"] == "geom"
        qml = ElementTree.fromstring(row["styleQML"].split(">", 1)[1])  # after the DOCTYPE
        props = {o.get("name"): o.get("value") for o in qml.iter("Option")
                 if o.get("name")}
        r, g, b = (int(layer.colour[i:i + 2], 16) for i in (1, 3, 5))
        key = "line_color" if layer.geometry_type == "LINESTRING" else "color"
        assert props[key] == f"{r},{g},{b},255", layer.name
        sld = ElementTree.fromstring(row["styleSLD"].encode())
        params = {p.get("name"): p.text for p in sld.iter(f"{SE}SvgParameter")}
        colour = params.get("fill") if layer.geometry_type != "LINESTRING" \
            else params.get("stroke")
        assert colour == layer.colour, layer.name
    kinds = {styles["buildings"]["styleQML"].count('type="fill"'),
             styles["heating"]["styleQML"].count('type="line"'),
             styles["pipe_nodes"]["styleQML"].count('type="marker"')}
    assert kinds == {1}


def test_ogrinfo_lists_only_the_layers_and_each_opens_cleanly(city):
    listing = _ogrinfo("-ro", "-q", city.path)
    assert listing.returncode == 0 and not listing.stderr, listing.stderr
    listed = [line.split(":", 1)[1].split("(")[0].strip()
              for line in listing.stdout.splitlines() if ":" in line]
    assert listed == [la.name for la in city.layers()] + ["twin_batches", "layer_styles"]
    for name in listed:
        out = _ogrinfo("-ro", "-so", city.path, name)
        assert out.returncode == 0 and "ERROR" not in out.stderr, (name, out.stderr)
        assert "Warning" not in out.stderr, (name, out.stderr)


def test_empty_typed_layers_have_their_geometry_type_and_crs(city):
    out = _ogrinfo("-ro", "-so", city.path, "bridges")  # no bridges in the small city
    assert "Feature Count: 0" in out.stdout
    assert "Geometry: Multi Polygon" in out.stdout and 'ID["EPSG",4546]' in out.stdout
    info = pyogrio.read_info(city.path, layer="road_centrelines")
    assert info["features"] == 0 and info["geometry_type"] == "LineString Z"
    assert info["crs"] == "EPSG:4546"


def test_a_spatial_filter_goes_through_the_index(city):
    box = (X0 + 70, Y0 + 20, X0 + 120, Y0 + 60)
    out = _ogrinfo("-ro", "-q", "--debug", "on", city.path, "buildings",
                   "-spat", *map(str, box))
    assert out.returncode == 0, out.stderr
    assert 'JOIN "rtree_buildings_geom"' in out.stderr, out.stderr[-2000:]
    assert "feature_id (String) = test:B3" in out.stdout
    assert out.stdout.count("OGRFeature(buildings)") == 1
    has = _ogrinfo("-ro", city.path, "-sql", "SELECT HasSpatialIndex('heating', 'geom')")
    assert "= 1" in has.stdout, has.stdout + has.stderr
    # GDAL's join starts from the R*Tree, not from a whole layer
    sql = out.stderr.split("ResetStatement(", 1)[1].rsplit(")", 1)[0].split(")\n")[0]
    conn = sqlite3.connect(city.path)
    plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    conn.close()
    assert "twin_rtree VIRTUAL TABLE" in plan[0], plan
    # and the GDAL that pyogrio ships (a newer one) reads through it too
    meta, _, _, fields = pyogrio.raw.read(city.path, layer="buildings", bbox=box)
    assert list(fields[list(meta["fields"]).index("feature_id")]) == ["test:B3"]


def test_layer_views_refuse_writes_with_a_message_that_says_why(city, tmp_path):
    before = twin.open_twin(city.path, readonly=True)
    rev = before.revision()
    before.close()
    upd = _ogrinfo(city.path, "-sql", "UPDATE buildings SET name = 'x' WHERE fid = 1")
    assert "read-only view of the twin" in upd.stderr and "twin import" in upd.stderr
    src = tmp_path / "one.geojson"
    src.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                   '"properties": {"name": "x"}, "geometry": {"type": "MultiPolygon", '
                   '"coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]}}]}')
    ins = subprocess.run(["ogr2ogr", "-update", "-append", city.path, str(src), "-nln",
                          "buildings"], capture_output=True, text=True, timeout=120)
    assert "buildings is a read-only view of the twin" in ins.stderr
    with twin.open_twin(city.path, readonly=True) as store:
        assert store.revision() == rev
        assert store.count(twin.Query(layers=("buildings",))) == 3
        assert store.get("test:B1").name == "Building 1"


def _strip_gis_extras(path: str) -> None:
    """A twin as written before this module: no styles, index views or triggers."""
    conn = sqlite3.connect(path)
    for (name, kind) in conn.execute("SELECT name, type FROM sqlite_master WHERE "
                                     "name LIKE 'rtree_%' OR name LIKE '%_read_only_%'"
                                     ).fetchall():
        conn.execute(f'DROP {kind.upper()} "{name}"')
    conn.execute("DROP TABLE layer_styles")
    conn.execute("DELETE FROM gpkg_contents WHERE table_name = 'layer_styles'")
    conn.execute("DELETE FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")
    conn.commit()
    conn.close()


def test_an_older_twin_gets_them_on_a_writable_open_and_keeps_users_styles(city):
    path = city.path
    city.close()
    _strip_gis_extras(path)
    with twin.open_twin(path, readonly=True) as store:  # a read-only open writes nothing
        rev = store.revision()
    assert "layer_styles" not in dict(pyogrio.list_layers(path))
    with twin.open_twin(path) as store:
        assert store.revision() == rev  # the twin's data did not change
    styles = _styles(path)
    assert set(styles) == {la.name for la in twin.STANDARD_LAYERS}
    # a style a QGIS user saved stays, and stays the default, through later opens
    conn = sqlite3.connect(path)
    conn.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = 'buildings'")
    conn.execute("INSERT INTO layer_styles (f_table_name, f_geometry_column, styleName, "
                 "styleQML, useAsDefault, owner) VALUES ('buildings', 'geom', 'mine', "
                 "'<qgis/>', 1, 'alice')")
    conn.execute("DELETE FROM layer_styles WHERE f_table_name = 'heating' AND owner = ?",
                 (qgis.OWNER,))
    conn.commit()
    conn.close()
    twin.open_twin(path).close()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT styleName, owner, useAsDefault FROM layer_styles WHERE "
                        "f_table_name IN ('buildings', 'heating') ORDER BY id").fetchall()
    conn.close()
    assert ("mine", "alice", 1) in rows
    assert ("twin default", qgis.OWNER, 1) in rows  # heating's, written again
    assert sum(1 for r in rows if r[2]) == 2  # one default per layer
    assert _ogrinfo("-ro", "-q", path, "buildings", "-spat", "0", "0", "1", "1"
                    ).returncode == 0

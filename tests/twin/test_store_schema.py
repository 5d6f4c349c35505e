"""Schema versions: an older twin is upgraded in place and stays a GeoPackage."""

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from builders import dump_twin, small_city

import twin
from twin.sensors.schema import SENSOR_TABLES
from twin.store import SCHEMA_VERSION
from twin.store.codec import tile_keys
from twin.store.migrate import Migration

V1 = Path(__file__).parent / "data" / "twin_schema1.gpkg"


@pytest.fixture
def v1_twin(tmp_path):
    """The schema-1 twin kept in tests/twin/data (a copy: opening upgrades it)."""
    path = tmp_path / "old.gpkg"
    shutil.copyfile(V1, path)
    return path


def layout(path) -> dict:
    """Columns (name, type, not null, default, key) of every table and the
    definition of every index: what a twin's code relies on."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        out = {t: [r[1:] for r in conn.execute(f'PRAGMA table_xinfo("{t}")')] for t in tables}
        for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"):
            out[f"index {name}"] = (table, [r[2] for r in conn.execute(
                f'PRAGMA index_info("{name}")')], conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])
        user_layer = ("street_trees", "rtree_street_trees_geom")
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view' "
                                      f"AND name NOT IN {user_layer}"):
            out[f"view {name}"] = sql
        return out
    finally:
        conn.close()


def test_the_kept_twin_is_schema_1():
    conn = sqlite3.connect(f"file:{V1}?mode=ro", uri=True)
    meta = dict(conn.execute("SELECT key, value FROM twin_meta"))
    conn.close()
    assert meta["schema_version"] == "1" and SCHEMA_VERSION > 1


def test_an_old_twin_opened_read_only_is_refused_and_left_alone(v1_twin):
    before = v1_twin.read_bytes()
    with pytest.raises(twin.SchemaVersionError,
                       match=r"schema version 1 .*read-only.*twin upgrade"):
        twin.open_twin(v1_twin, readonly=True)
    assert v1_twin.read_bytes() == before


def test_an_old_twin_is_upgraded_on_a_writable_open_and_keeps_every_row(v1_twin):
    old = dump_twin(v1_twin)
    with twin.open_twin(v1_twin) as store:
        inf = store.info()
        assert inf.schema_version == SCHEMA_VERSION
        assert inf.features_by_layer == {"buildings": 3, "building_elements": 1, "heating": 1,
                                         "pipe_nodes": 2, "street_trees": 1, "water_supply": 1}
        expected = {f.id: f for f in small_city()}
        for f in store.query(twin.Query(with_meshes=True)):
            if f.id == "tree:1":
                assert f.attributes == {"species": "poplar"}
                continue
            e = expected.pop(f.id)
            assert dict(f.attributes) == dict(e.attributes)
            assert f.footprint.equals(e.footprint) and f.edge == e.edge
            assert set(f.meshes) == set(e.meshes)
            for lod, mesh in f.meshes.items():
                np.testing.assert_allclose(mesh.vertices, e.meshes[lod].vertices, atol=1e-3)
        assert not expected
        assert [(b.source, b.feature_count) for b in store.batches()] == [
            ("small_city", 8), ("trees.csv", 1)]
        assert store.batches()[1].report["skipped"] == [{"source_id": "tree:2",
                                                         "reason": "no position"}]
        assert store.revision() == 6  # 5 changes before, the upgrade is one more
    new = dump_twin(v1_twin)
    changed = {t for t in set(old) | set(new) if old.get(t) != new.get(t)}
    # the twin's tables, what a writable open adds for QGIS (twin/store/gpkg/qgis.py),
    # schema 3: the history of versions (empty) and a digest per feature, and
    # schema 4: the sensing tables
    assert changed == {"twin_features", "twin_meta", "twin_migrations",
                       "layer_styles", "gpkg_contents", "gpkg_extensions", "twin_history",
                       "twin_history_rtree", "twin_history_rtree_node",
                       "twin_history_rtree_parent", "twin_history_rtree_rowid",
                       "twin_health_checks", *SENSOR_TABLES}
    assert not new["twin_history"] and not new["twin_history_rtree"]
    assert not new["twin_health_checks"]
    conn = sqlite3.connect(v1_twin)
    rows = conn.execute("SELECT fid, min_x, min_y, min_z, max_x, max_y, max_z, tile "
                        "FROM twin_features ORDER BY fid").fetchall()
    log = conn.execute("SELECT version, toolkit_version FROM twin_migrations").fetchall()
    conn.close()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # the removed batch's gap
    b = np.array([r[1:7] for r in rows], dtype=float)
    assert [r[7] for r in rows] == tile_keys(b).tolist()
    assert log == [(v, twin.__version__) for v in range(2, SCHEMA_VERSION + 1)]


def test_an_upgraded_twin_has_the_layout_of_a_new_one(v1_twin, tmp_path):
    twin.open_twin(v1_twin).close()
    fresh = twin.create_twin(tmp_path / "new.gpkg", "EPSG:4546")
    fresh.close()
    assert layout(v1_twin) == layout(fresh.path)


@pytest.mark.gdal
def test_an_upgraded_twin_is_still_read_by_gdal(v1_twin):
    with twin.open_twin(v1_twin) as store:
        with store.import_batch("more", "test", "tests", "1") as b:
            b.add([twin.Feature(id="tree:3", layer="street_trees", type="Tree",
                                footprint=small_city()[5].footprint)])
        assert store.get("tree:3").provenance.batch_id == 4
    listed = dict(pyogrio.list_layers(v1_twin))
    assert listed["street_trees"] == "Point Z" and listed["buildings"] == "MultiPolygon"
    assert pyogrio.read_info(v1_twin, layer="street_trees")["features"] == 2
    meta, _, geoms, fields = pyogrio.raw.read(v1_twin, layer="buildings")
    assert meta["crs"] == "EPSG:4546" and len(geoms) == 3
    # the layer views keep the columns GIS projects know
    assert {"feature_id", "zmin", "zmax", "storeys", "attributes"} <= set(meta["fields"])


def test_a_failed_upgrade_leaves_the_twin_as_it_was(v1_twin, monkeypatch):
    from twin.store.gpkg import schema
    from twin.store.gpkg import store as gpkg_store

    def breaks(conn, meta):
        schema.MIGRATIONS[0].apply(conn, meta)  # the real step, then a failing disk
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(gpkg_store, "MIGRATIONS",
                        (Migration(2, "breaks", breaks), *schema.MIGRATIONS[1:]))
    before = dump_twin(v1_twin)
    with pytest.raises(twin.StoreError, match=f"from schema version 1 to {SCHEMA_VERSION} "
                                              "failed, the twin is unchanged: disk I/O error"):
        twin.open_twin(v1_twin)
    assert dump_twin(v1_twin) == before

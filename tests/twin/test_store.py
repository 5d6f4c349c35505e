import json
import sqlite3

import numpy as np
import pytest
import shapely
from builders import GROUND, X0, Y0, building, dump_twin, run_sql, small_city
from shapely.geometry import Point, Polygon, box

import twin
from twin.store.gpkg import SCHEMA_VERSION


def ids(features):
    return sorted(f.id for f in features)


# -- opening -------------------------------------------------------------
def test_reopen_keeps_crs_layers_and_origin(city):
    path = city.path
    city.close()
    with twin.open_twin(path, readonly=True) as again:
        assert again.crs.to_epsg() == 4546
        assert again.vertical_datum == "1985 National Height Datum"
        assert len(again.layers()) == len(twin.STANDARD_LAYERS)
        ox, oy, oz = again.origin
        assert X0 - 100 <= ox <= X0 + 200 and Y0 - 100 <= oy <= Y0 + 100


@pytest.mark.backends("gpkg")
def test_gpkg_header_marks_a_geopackage(city):
    conn = sqlite3.connect(city.path)
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert app_id == 0x47504B47
    assert journal == "wal"


def test_not_a_twin_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(twin.NotATwinError, match="not an SQLite file"):
        twin.open_twin(junk)
    other = tmp_path / "other.gpkg"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE gpkg_contents (table_name TEXT)")
    conn.close()
    with pytest.raises(twin.NotATwinError, match="GeoPackage but not a twin"):
        twin.open_twin(other)
    with pytest.raises(twin.StoreError, match="no such twin file"):
        twin.open_twin(tmp_path / "missing.gpkg")


def test_newer_schema_version_is_refused(empty_twin):
    path = empty_twin.path
    empty_twin.close()
    run_sql(path, "UPDATE twin_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),))
    with pytest.raises(twin.SchemaVersionError, match="Upgrade the toolkit"):
        twin.open_twin(path)
    with pytest.raises(twin.SchemaVersionError, match="Upgrade the toolkit"):
        twin.open_twin(path, readonly=True)


def test_create_refuses_to_overwrite(empty_twin):
    with pytest.raises(twin.StoreError, match="already exists"):
        twin.create_twin(empty_twin.path, "EPSG:4546")


def test_a_password_in_a_server_url_is_refused_and_never_repeated():
    for url in ("postgresql://gis:s3cret@db.example/city",
                "postgresql://gis@db.example/city?password=s3cret"):
        with pytest.raises(twin.StoreError, match="PGPASSWORD") as err:
            twin.open_twin(url)
        assert "s3cret" not in str(err.value)


# -- queries --------------------------------------------------------------
def test_get_by_id_returns_everything(city):
    f = city.get("test:B1")
    assert f.layer == "buildings" and f.type == "Building" and f.name == "Building 1"
    assert f.attributes["storeys"] == 6 and isinstance(f.attributes["storeys"], int)
    assert f.attributes["colour"] == "grey"  # free-form kept
    assert f.footprint.geom_type == "MultiPolygon"
    assert f.footprint.area == pytest.approx(240.0)
    assert f.provenance.source_file == "small_city" and f.provenance.batch_id == 1
    mesh = f.meshes["1"]
    assert mesh.label_counts() == {"GroundSurface": 2, "WallSurface": 8, "RoofSurface": 2}
    original = building(1, X0, Y0, 6).meshes["1"]
    np.testing.assert_allclose(mesh.vertices, original.vertices, atol=1e-3)
    np.testing.assert_array_equal(mesh.faces, original.faces)
    with pytest.raises(twin.NotFoundError, match="nope"):
        city.get("nope")


def test_by_layer_and_type(city):
    assert ids(city.query(twin.Query(layers=("buildings",)))) == ["test:B1", "test:B2",
                                                                   "test:B3"]
    assert ids(city.query(twin.Query(types=("PipeSegment",)))) == ["test:P1", "test:P2"]
    assert city.count(twin.Query(layers=("pipe_nodes",))) == 2


@pytest.mark.parametrize("expr, expected", [
    ("storeys>10", ["test:B2"]),
    ("storeys<=6", ["test:B1", "test:B3"]),
    ("function=school", ["test:B3"]),
    ("function!=school", ["test:B1", "test:B2"]),
    ("year_built in 1995,2008", ["test:B1", "test:B3"]),
    ("name like %ing 2", ["test:B2"]),
    ("colour=grey", ["test:B1"]),  # a free-form attribute
    ("install_year<2000", ["test:P1"]),
    ("material in (PE, steel)", ["test:P1", "test:P2"]),
])
def test_attribute_filters(city, expr, expected):
    assert ids(city.query(twin.Query(filters=(expr,)))) == expected


def test_bad_filters_are_explained(city):
    with pytest.raises(twin.QueryError, match="FIELD OP VALUE"):
        twin.Query(filters=("height is tall",))
    with pytest.raises(twin.QueryError, match="needs a number"):
        list(city.query(twin.Query(filters=("storeys>many",))))


def test_bbox_2d(city):
    q = twin.Query(bbox=(X0 + 35, Y0 - 6, X0 + 45, Y0 + 1))
    assert ids(city.query(q)) == ["test:B2", "test:P2"]


def test_box3d_separates_pipe_under_building(city):
    plan = (X0 + 5, Y0 + 5, X0 + 10, Y0 + 7)
    under = twin.Query(box3d=(plan[0], plan[1], GROUND - 5, plan[2], plan[3], GROUND - 0.01))
    above = twin.Query(box3d=(plan[0], plan[1], GROUND, plan[2], plan[3], GROUND + 100))
    assert ids(city.query(under)) == ["test:P1"]
    assert ids(city.query(above)) == ["test:B1"]  # the storey's heights are unknown
    plan_only = twin.Query(bbox=plan)
    assert ids(city.query(plan_only)) == ["test:B1", "test:B1-S1", "test:P1"]


def test_within_polygon(city):
    poly = Polygon([(X0 - 1, Y0 - 1), (X0 + 61, Y0 - 1), (X0 + 61, Y0 + 13), (X0 - 1, Y0 + 13)])
    inside = ids(city.query(twin.Query(within=poly, predicate="within")))
    assert inside == ["test:B1", "test:B1-S1", "test:B2"]
    wider = box(X0 - 1, Y0 - 6, X0 + 61, Y0 + 13)
    touching = ids(city.query(twin.Query(within=wider, layers=("heating", "water_supply"))))
    assert touching == ["test:P1", "test:P2"]


def test_nearest(city):
    hits = city.nearest(X0 + 100, Y0 + 36, 2, layers=("buildings",))
    assert [f.id for f, _ in hits] == ["test:B3", "test:B2"]
    assert hits[0][1] == pytest.approx(0.0)
    assert hits[1][1] == pytest.approx(np.hypot(100 - 60, 36 - 12))


def test_children_and_batch(city):
    assert ids(city.query(twin.Query(parent="test:B1"))) == ["test:B1-S1"]
    assert city.count(twin.Query(batch=1)) == len(small_city())
    assert city.count(twin.Query(batch=2)) == 0


def test_paging_is_consistent(city):
    all_ids = [f.id for f in city.query(twin.Query())]
    pages = [f.id for k in range(0, 8, 3) for f in city.query(twin.Query(limit=3, offset=k))]
    assert pages == all_ids
    poly = box(X0 - 50, Y0 - 50, X0 + 150, Y0 + 150)
    refined = [f.id for f in city.query(twin.Query(within=poly))]
    paged = [f.id for k in range(0, 8, 2) for f in city.query(twin.Query(within=poly, limit=2,
                                                                         offset=k))]
    assert paged == refined


def test_query_streams(city):
    it = city.query(twin.Query())
    assert iter(it) is it  # a generator, not a list
    first = next(it)
    assert first.id == "test:B1"
    it.close()


# -- writing --------------------------------------------------------------
def test_failed_import_leaves_the_twin_exactly_as_it_was(city):
    before = dump_twin(city.path)
    with pytest.raises(twin.ImportFailedError, match="bad.geojson.*rolled back"):
        with city.import_batch("bad.geojson", "test", "tests", "1") as b:
            b.add([building(10, X0 + 200, Y0, 3), building(11, X0 + 230, Y0, 3)])
            # a bad file met half way (a bug, say a ValueError, propagates as itself:
            # tests/test_errors.py)
            raise twin.ConversionError("bad.geojson: feature 12 has no geometry")
    assert dump_twin(city.path) == before
    assert city.count(twin.Query(ids=("test:B10",))) == 0


def test_a_bug_during_an_import_is_rolled_back_and_not_reported_as_a_bad_file(city):
    """Only bad input, files and the database make an ImportFailedError; a
    programming error keeps its own type (and the twin is unchanged)."""
    before = dump_twin(city.path)
    with pytest.raises(ZeroDivisionError):
        with city.import_batch("good.geojson", "test", "tests", "1") as b:
            b.add([building(10, X0 + 200, Y0, 3)])
            raise ZeroDivisionError("a bug half way")  # not a bad file: propagates as itself
    assert dump_twin(city.path) == before


def test_duplicate_id_fails_the_whole_import(city):
    before = dump_twin(city.path)
    # the batch that holds it is named, on every backend (PostGIS finds the clash
    # through its unique index, then looks the id up outside the aborted transaction)
    with pytest.raises(twin.ImportFailedError,
                       match=r"'test:B1' already exists in the twin \(import batch 1\); "
                             "remove that batch or import with on_conflict='replace'"):
        with city.import_batch("again", "test", "tests", "1") as b:
            b.add([building(20, X0, Y0 + 200, 3), building(1, X0, Y0, 6)])
    assert dump_twin(city.path) == before


def test_replace_mode_updates_features(city):
    with city.import_batch("again", "test", "tests", "1", on_conflict="replace") as b:
        b.add([building(1, X0, Y0, 9)])
    assert city.get("test:B1").attributes["storeys"] == 9
    assert city.count(twin.Query(layers=("buildings",))) == 3
    assert city.batches()[-1].report["replaced"] == 1


def test_typed_attribute_with_wrong_type_names_feature(city):
    bad = twin.Feature(id="test:bad", layer="buildings", type="Building",
                       footprint=box(0, 0, 1, 1), attributes={"storeys": "many"})
    with pytest.raises(twin.ImportFailedError, match="'test:bad'.*'storeys' must be a number"):
        with city.import_batch("x", "test", "tests", "1") as b:
            b.add([bad])


def test_geometry_must_match_the_layer(city):
    bad = twin.Feature(id="test:pt", layer="heating", type="PipeSegment", footprint=Point(1, 2))
    with pytest.raises(twin.ImportFailedError, match="'heating' holds lines, got a Point"):
        with city.import_batch("x", "test", "tests", "1") as b:
            b.add([bad])
    unknown = twin.Feature(id="test:u", layer="trees", type="Tree", footprint=Point(1, 2))
    with pytest.raises(twin.ImportFailedError, match="layer 'trees' does not exist"):
        with city.import_batch("x", "test", "tests", "1") as b:
            b.add([unknown])


def test_batches_are_listed_and_removed(city):
    with city.import_batch("more", "test", "tests", "1") as b:
        b.add([building(30, X0 + 300, Y0, 3)])
        b.skip("obj-7", "no geometry")
    listed = city.batches()
    assert [x.source for x in listed] == ["small_city", "more"]
    assert listed[1].feature_count == 1 and listed[1].status == "complete"
    assert listed[1].report["skipped"] == [{"source_id": "obj-7", "reason": "no geometry"}]
    assert city.remove_batch(listed[1].id) == 1
    assert city.count(twin.Query(ids=("test:B30",))) == 0
    assert city.count(twin.Query(bbox=(X0 + 290, Y0 - 1, X0 + 330, Y0 + 20))) == 0
    with pytest.raises(twin.NotFoundError, match="batch 99"):
        city.remove_batch(99)


def test_read_during_write_sees_the_old_state(city):
    reader = twin.open_twin(city.path, readonly=True)
    try:
        with city.import_batch("during", "test", "tests", "1") as b:
            b.add([building(40, X0 + 400, Y0, 3)])
            # the write transaction is open: the reader is not blocked and sees the past
            assert reader.count(twin.Query(layers=("buildings",))) == 3
            assert [x.source for x in reader.batches()] == ["small_city"]
        assert reader.count(twin.Query(layers=("buildings",))) == 4
    finally:
        reader.close()


def test_readonly_store_refuses_writes(city):
    ro = twin.open_twin(city.path, readonly=True)
    with pytest.raises(twin.StoreError, match="read-only"):
        with ro.import_batch("x", "t", "t", "1"):
            pass
    ro.close()


def test_user_layer_becomes_a_table_gis_tools_read(city):
    city.add_layer(twin.Layer(name="street_trees", title="Street trees", group="surface",
                              colour="#228b22", geometry_type="POINT"))
    with city.import_batch("trees", "test", "tests", "1") as b:
        b.add([twin.Feature(id="tree:1", layer="street_trees", type="Tree",
                            footprint=Point(X0, Y0, GROUND), attributes={"species": "poplar"})])
    assert city.layer("street_trees").colour == "#228b22"
    row = run_sql(city.path, "SELECT feature_id, attributes::text FROM street_trees")[0] \
        if city.path.startswith("postgresql:") else \
        run_sql(city.path, "SELECT feature_id, attributes FROM street_trees")[0]
    assert row[0] == "tree:1" and json.loads(row[1]) == {"species": "poplar"}
    with pytest.raises(twin.LayerError, match="already exists"):
        city.add_layer(twin.Layer(name="street_trees", title="x", group="surface",
                                  colour="#000000"))


def test_unknown_heights_are_kept_unknown(city):
    storey = city.get("test:B1-S1")
    assert np.isnan(storey.bbox[2]) and np.isnan(storey.bbox[5])
    assert storey.bbox[:2] == (X0, Y0)


def test_info_counts(city):
    inf = city.info()
    assert inf.feature_count == 8
    assert inf.features_by_layer["buildings"] == 3
    assert inf.edge_count == 2
    assert inf.mesh_count == 5
    assert inf.bounds[2] == pytest.approx(GROUND - 3 - 0.15)


def test_hierarchy_walks_both_ways(city):
    from twin.hierarchy import ancestors, descendants

    with city.import_batch("elements", "test", "tests", "1") as b:
        b.add([twin.Feature(id="test:W1", layer="building_elements", type="IfcWall",
                            parent="test:B1-S1", footprint=box(X0, Y0, X0 + 1, Y0 + 0.3))])
    assert [f.id for f in ancestors(city, "test:W1")] == ["test:B1-S1", "test:B1"]
    assert [(f.id, d) for f, d in descendants(city, "test:B1")] == [("test:B1-S1", 1),
                                                                     ("test:W1", 2)]
    assert [f.id for f, _ in descendants(city, "test:B1", max_depth=1)] == ["test:B1-S1"]


def test_large_import_spans_chunks_and_a_late_error_rolls_back_all(city):
    """More features than one write chunk: the pipelined writer must keep order,
    and a duplicate in a late chunk must undo the chunks already written."""
    many = [twin.Feature(id=f"test:N{i}", layer="pipe_nodes", type="Valve",
                         footprint=Point(X0 + i % 100, Y0 + i // 100, GROUND - 1))
            for i in range(5000)]
    before = dump_twin(city.path)
    with pytest.raises(twin.ImportFailedError, match="'test:N10' appears twice"):
        with city.import_batch("dup", "test", "tests", "1") as b:
            b.add(many + [many[10]])
    assert dump_twin(city.path) == before
    with city.import_batch("ok", "test", "tests", "1") as b:
        assert b.add(many) == 5000
    got = list(city.query(twin.Query(layers=("pipe_nodes",), types=("Valve",),
                                     filters=("id like test:N%",))))
    assert [f.id for f in got] == [f.id for f in many]  # insertion order kept
    assert got[4321].footprint.coords[0] == (X0 + 21, Y0 + 43, GROUND - 1)


def test_update_attributes_in_place(city):
    fid = next(city.query(twin.Query(layers=("buildings",)))).id
    f = city.update_attributes(fid, {"storeys": "7", "note": "checked", "missing": None})
    assert f.attributes["storeys"] == 7 and f.attributes["note"] == "checked"
    f = city.update_attributes(fid, {"note": None})
    assert "note" not in f.attributes
    # typed attributes are checked as on import, bad values leave the feature alone
    with pytest.raises(twin.TwinError, match="storeys"):
        city.update_attributes(fid, {"storeys": "many"})
    with pytest.raises(twin.TwinError, match="not storable"):
        city.update_attributes(fid, {"x": float("nan")})
    assert city.get(fid).attributes["storeys"] == 7
    assert city.count(twin.Query(filters=("storeys=7",), ids=(fid,))) == 1
    with pytest.raises(twin.NotFoundError):
        city.update_attributes("nope", {"x": 1})


def test_a_light_query_reads_typed_attributes_only_and_scenes_need_no_more(demo_twin):
    """Scenes and tiles read features without their free-form attributes: the
    GLB shows typed ones only, so it comes out byte for byte the same."""
    from twin.attributes import TYPED_ATTRIBUTES
    from viewer.gltf import KEY_ATTRIBUTES, merged_glb

    assert set(KEY_ATTRIBUTES) <= set(TYPED_ATTRIBUTES)
    with twin.open_twin(demo_twin, readonly=True) as store:
        full = list(store.query(twin.Query(layers=("buildings",), with_meshes=True)))
        light = list(store.query(twin.Query(layers=("buildings",), with_meshes=True,
                                            free_attributes=False)))
        colours = {x.name: x.colour for x in store.layers()}
        origin = store.origin
    assert [f.id for f in full] == [f.id for f in light]
    assert any(set(f.attributes) - set(TYPED_ATTRIBUTES) for f in full)
    for f, g in zip(full, light):
        assert dict(g.attributes) == {k: v for k, v in f.attributes.items()
                                      if k in TYPED_ATTRIBUTES}
    assert merged_glb(full, origin, colours)[0] == merged_glb(light, origin, colours)[0]


def test_every_feature_reads_back_as_written(city):
    """Ids, names, parents, typed and free attributes, footprints, edges and
    meshes come back as the converter gave them."""
    written = {f.id: f for f in small_city()}
    read = {f.id: f for f in city.query(twin.Query(with_meshes=True))}
    assert set(read) == set(written)
    for fid, w in written.items():
        r = read[fid]
        assert (r.layer, r.type, r.name, r.parent, r.edge, r.source_id, r.lod) == \
               (w.layer, w.type, w.name, w.parent, w.edge, w.source_id, w.lod)
        assert dict(r.attributes) == dict(w.attributes)
        fp = w.footprint
        if fp.geom_type == "Polygon":  # footprint layers keep multipolygons
            fp = shapely.MultiPolygon([fp])
        assert r.footprint.equals_exact(fp, 0) and r.footprint.has_z == fp.has_z
        assert set(r.meshes) == set(w.meshes)
        for lod, mesh in w.meshes.items():
            np.testing.assert_allclose(r.meshes[lod].vertices, mesh.vertices, atol=1e-3)
            np.testing.assert_array_equal(r.meshes[lod].faces, mesh.faces)
        np.testing.assert_allclose(r.bbox, w.bbox, atol=1e-9)


def test_retire_ends_current_versions_by_id_and_removing_the_batch_restores_them(city):
    before = city.revision()
    with city.import_batch("retire two", "test", "tests", "1", on_conflict="update") as b:
        assert b.retire(["test:B2", "test:P1", "test:nowhere"]) == ["test:nowhere"]
    assert b.id > 0 and city.revision() > before
    ids = {f.id for f in city.query(twin.Query())}
    assert "test:B2" not in ids and "test:P1" not in ids and "test:B1" in ids
    batch = next(x for x in city.batches() if x.id == b.id)
    assert batch.report["update"]["retired"] == 2
    assert batch.report["update"]["retired_ids"] == ["test:B2", "test:P1"]
    assert [v["retired_batch"] for v in city.versions_of("test:B2")] == [b.id]
    assert not any(e[0] == "test:P1" for e in city.edges())
    city.remove_batch(b.id)
    assert city.get("test:B2").attributes["storeys"] == 20
    assert any(e[0] == "test:P1" for e in city.edges())
    assert [v["retired_batch"] for v in city.versions_of("test:B2")] == [None]


def test_retire_needs_an_update_and_retiring_nothing_leaves_no_batch(city):
    with pytest.raises(twin.ImportFailedError, match="on_conflict='update'"):
        with city.import_batch("retire", "test", "tests", "1") as b:
            b.retire(["test:B2"])
    count = len(city.batches())
    with city.import_batch("retire none", "test", "tests", "1", on_conflict="update") as b:
        assert b.retire(["test:nowhere"]) == ["test:nowhere"]
    assert b.id == 0 and len(city.batches()) == count and city.get("test:B2")

"""Both store backends together: copies between them, concurrent clients on
the server, the server's layout as GIS tools see it, partitions, upgrades."""

import multiprocessing
import re
import shutil
import subprocess
import time

import numpy as np
import pytest
from builders import GROUND, X0, Y0, building, dump_twin, run_sql, small_city
from click.testing import CliRunner
from pgcluster import drop_schema, new_schema_name, with_params
from shapely.geometry import Point
from store_workers import import_and_wait

import twin
from twin.store.codec import tile_keys
from twin.store.copy import copy_twin
from twin.store.migrate import Migration

postgis_only = pytest.mark.backends("postgis")


def fill_history(store) -> None:
    """Beyond the small city: a user layer, a skipped element, a feature
    replaced by a later import, a batch imported and removed again."""
    store.add_layer(twin.Layer(name="street_trees", title="Street trees", group="surface",
                               colour="#228b22", geometry_type="POINT"))
    with store.import_batch("trees.csv", "test", "tests", "1") as b:
        b.add([twin.Feature(id="tree:1", layer="street_trees", type="Tree",
                            footprint=Point(X0 + 5, Y0 - 8, GROUND),
                            attributes={"species": "poplar", "age": 12.5, "tags": ["a", "b"]})])
        b.skip("tree:2", "no position")
    with store.import_batch("update.json", "test", "tests", "1", on_conflict="replace") as b:
        b.add([building(2, X0 + 40, Y0, 22, function="office")])
    with store.import_batch("gone", "test", "tests", "1") as b:
        b.add([building(9, X0 + 300, Y0, 2)])
    store.remove_batch(store.batches()[-1].id)


def features(store) -> list:
    return list(store.query(twin.Query(with_meshes=True)))


def assert_same_features(a: list, b: list) -> None:
    assert [f.id for f in a] == [f.id for f in b]
    for f, g in zip(a, b):
        assert (f.layer, f.type, f.name, f.parent, f.lod, f.edge, f.source_id) == \
               (g.layer, g.type, g.name, g.parent, g.lod, g.edge, g.source_id)
        assert dict(f.attributes) == dict(g.attributes)
        assert f.provenance == g.provenance
        assert f.bbox == g.bbox or np.allclose(f.bbox, g.bbox, equal_nan=True)
        assert (f.footprint is None and g.footprint is None) or \
            f.footprint.equals_exact(g.footprint, 0)
        assert set(f.meshes) == set(g.meshes)
        for lod in f.meshes:
            assert f.meshes[lod] == g.meshes[lod]  # the stored blobs: bit for bit


def without_moments(dump: dict) -> dict:
    """A dump without what a copy cannot keep: when it was made and how often
    it changed since (twin_meta ``created``, ``revision``; GeoPackage
    ``last_change``, ``layer_styles.update_time``)."""
    out = dict(dump)
    out["twin_meta"] = [r for r in dump["twin_meta"]
                        if not r.startswith(("('created'", "('revision'"))]
    if "gpkg_contents" in dump:
        out["gpkg_contents"] = [r.rsplit(", '20", 1)[0] for r in dump["gpkg_contents"]]
    if "layer_styles" in dump:  # each style's update_time: when the copy wrote it
        out["layer_styles"] = [re.sub(r"datetime\.datetime\([^)]*\)", "TIME",
                                      r.rsplit(", '20", 1)[0]) for r in dump["layer_styles"]]
        # a server twin's styles name its database and schema, which differ
        # between copies
        out["layer_styles"] = [re.sub(r"^\((\d+), '[^']*', 't_[0-9a-f]{12}'",
                                      r"(\1, DATABASE, SCHEMA", r)
                               for r in out["layer_styles"]]
    return out


# -- copies ---------------------------------------------------------------------
@pytest.mark.backends("gpkg")
@pytest.mark.postgres
def test_a_copy_to_the_server_and_back_is_lossless(city, tmp_path, pg_database):
    fill_history(city)
    url = with_params(pg_database, schema=new_schema_name())
    try:
        with copy_twin(city, url) as server:
            assert server.info().extra["backend"] == "PostGIS"
            assert_same_features(features(city), features(server))
            assert server.batches() == city.batches()
            assert server.layers() == city.layers()
            assert server.origin == city.origin
            back = copy_twin(server, str(tmp_path / "back.gpkg"))
        with back:
            assert_same_features(features(city), features(back))
            assert without_moments(dump_twin(back.path)) == \
                without_moments(dump_twin(city.path))
            # the next import numbers on where the original would have (the
            # removed batch's id is not given again)
            for store in (back, city):
                with store.import_batch("next", "test", "tests", "1") as b:
                    b.add([building(30, X0, Y0 + 300, 3)])
            assert back.batches()[-1].id == city.batches()[-1].id == 5
            assert run_sql(back.path, "SELECT fid FROM twin_features WHERE feature_id = ?",
                           ("test:B30",)) == run_sql(city.path, "SELECT fid FROM twin_features "
                                                     "WHERE feature_id = ?", ("test:B30",))
    finally:
        drop_schema(pg_database, url.rsplit("schema=", 1)[1])


@postgis_only
def test_a_copy_of_a_server_twin_to_a_file_and_back_is_lossless(city, tmp_path, pg_database):
    fill_history(city)
    url = with_params(pg_database, schema=new_schema_name())
    try:
        with copy_twin(city, str(tmp_path / "city.gpkg")) as file_twin:
            assert_same_features(features(city), features(file_twin))
            copy_twin(file_twin, url).close()
        assert without_moments(dump_twin(url)) == without_moments(dump_twin(city.path))
    finally:
        drop_schema(pg_database, url.rsplit("schema=", 1)[1])


@postgis_only
def test_twin_copy_on_the_command_line_both_ways(city, tmp_path):
    from twin_cli.main import cli

    gpkg = tmp_path / "copy.gpkg"
    r = CliRunner().invoke(cli, ["copy", city.path, str(gpkg)])
    assert r.exit_code == 0, r.output
    assert "copied 8 features, 5 meshes, 2 network edges and 1 import batches" in r.output
    r = CliRunner().invoke(cli, ["copy", str(gpkg), city.path])
    assert r.exit_code == 2 and "already exists" in r.output
    r = CliRunner().invoke(cli, ["copy", str(gpkg), city.path, "--force"])
    assert r.exit_code == 0, r.output
    with twin.open_twin(gpkg, readonly=True) as f:
        assert_same_features(features(f), features(city))


def test_a_copy_into_a_twin_that_is_not_empty_is_refused(city):
    before = dump_twin(city.path)
    with pytest.raises(twin.StoreError, match="not empty"):
        with city.restore([(9, "x", "x", "x", "1", "now", None, "complete", 0, None)]):
            pass
    assert dump_twin(city.path) == before


# -- the server: several clients --------------------------------------------------
@postgis_only
def test_two_clients_import_at_once_and_readers_are_never_blocked(empty_twin, tmp_path):
    """Two processes each hold an import open (rows written, not committed)
    at the same moment; a reader in a third is not blocked and sees neither;
    both commit; each batch holds exactly its own features."""
    url = empty_twin.path
    ctx = multiprocessing.get_context("spawn")
    written, release, results = ctx.Barrier(3), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=import_and_wait,
                         args=(url, p, 2500, [], written, release, results))
             for p in ("a", "b")]
    for p in procs:
        p.start()
    try:
        written.wait(120)  # both imports are inside their transactions now
        with twin.open_twin(url, readonly=True) as reader:
            t = time.perf_counter()
            assert reader.count(twin.Query()) == 0
            assert reader.batches() == []
            assert list(reader.query(twin.Query(bbox=(X0, Y0, X0 + 50, Y0 + 50)))) == []
            assert time.perf_counter() - t < 5
    finally:
        release.set()
        for p in procs:
            p.join(120)
    assert sorted(results.get(timeout=5) for _ in procs) == [("a", "ok"), ("b", "ok")]
    with twin.open_twin(url, readonly=True) as store:
        assert store.count(twin.Query()) == 5000
        for batch in store.batches():
            prefix = batch.source[0]
            got = [f.id for f in store.query(twin.Query(batch=batch.id))]
            assert got == [f"{prefix}:{i}" for i in range(2500)]
            assert batch.feature_count == 2500 and batch.status == "complete"
        # their keys interleave: a copy to a file numbers them again, batch by batch
        with copy_twin(store, str(tmp_path / "copy.gpkg")) as f:
            for batch in f.batches():
                got = [x.id for x in f.query(twin.Query(batch=batch.id))]
                assert got == [f"{batch.source[0]}:{i}" for i in range(2500)]


@postgis_only
def test_two_clients_importing_the_same_id_one_wins_the_other_is_rolled_back(empty_twin):
    url = empty_twin.path
    ctx = multiprocessing.get_context("spawn")
    written, release, results = ctx.Barrier(2), ctx.Event(), ctx.Queue()
    first = ctx.Process(target=import_and_wait,
                        args=(url, "a", 100, ["shared:1"], written, release, results))
    first.start()
    try:
        # a's rows are in, its transaction open (a poll of pg_stat_activity for an
        # idle transaction also saw other tests' twins on a shared server: the
        # second import then went first and committed)
        written.wait(120)
        with twin.open_twin(url, readonly=True) as reader:
            second = ctx.Process(target=import_and_wait,
                                 args=(url, "b", 100, ["shared:1"], None, None, results))
            second.start()
            time.sleep(2)
            # waiting for the first to decide, not failed (else: what it reported)
            assert second.is_alive(), results.get(timeout=5)
            assert reader.count(twin.Query()) == 0
    finally:
        release.set()
        first.join(60)
    second.join(60)
    got = dict(results.get(timeout=5) for _ in range(2))
    assert got["a"] == "ok"
    assert got["b"].startswith("ImportFailedError") and "'shared:1' already exists" in got["b"]
    with twin.open_twin(url, readonly=True) as store:
        assert [b.source for b in store.batches()] == ["a.csv"]
        assert store.count(twin.Query()) == 101
        assert store.get("shared:1").provenance.source_file == "a.csv"


# -- the server as GIS tools see it --------------------------------------------------
def _ogr_pg(url: str) -> str:
    import psycopg

    from twin.store.location import parse_server

    loc = parse_server(url)
    params = psycopg.conninfo.conninfo_to_dict(loc.conninfo)
    return ("PG:" + " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname", "user")
                             if k in params) + f" schemas={loc.schema}")


@postgis_only
@pytest.mark.gdal
@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="unreachable: .ci/run installs "
                    "gdal-bin")  # the GDAL tests need Debian's gdal-bin, which CI installs
def test_ogrinfo_lists_every_layer_with_its_srid_and_feature_count(city):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", _ogr_pg(city.path)],
                         capture_output=True, text=True, check=True)
    assert "ERROR" not in out.stderr, out.stderr
    blocks = {b.split("\n", 1)[0].strip(): b for b in out.stdout.split("Layer name: ")[1:]}
    counts = city.info().features_by_layer
    for layer in city.layers():
        block = blocks[layer.name]
        assert f"Feature Count: {counts.get(layer.name, 0)}" in block, block
        assert 'ID["EPSG",4546]' in block, block
    assert "Geometry: Multi Polygon" in blocks["buildings"]
    assert "Geometry: 3D Line String" in blocks["heating"]
    assert "Geometry: 3D Point" in blocks["pipe_nodes"]
    # QGIS's query on a view can use a GiST index (a table of 8 rows is read
    # whole: the planner is told not to, to see that the index matches)
    import psycopg

    from twin.store.location import parse_server

    loc = parse_server(city.path)
    with psycopg.connect(loc.conninfo, options=f"-c search_path={loc.schema},public") as conn:
        conn.execute("SET enable_seqscan = off")
        for layer, index in (("buildings", "twin_gis_type_multipolygon"),
                             ("heating", "twin_gis_type_linestring")):
            plan = conn.execute(f"EXPLAIN SELECT fid FROM {layer} WHERE geom && "
                                "ST_MakeEnvelope(%s, %s, %s, %s, 4546)",
                                (X0, Y0, X0 + 50, Y0 + 50)).fetchall()
            assert index in " ".join(r[0] for r in plan), plan


@postgis_only
def test_qgis_finds_a_default_style_per_layer_in_the_catalogue_colour(city):
    """QGIS reads a PostgreSQL layer's default style from ``layer_styles``: one
    row per layer view, QML and SLD in the catalogue colour, the same documents
    as the GeoPackage's; a style a user saved as default stays the default."""
    from defusedxml import ElementTree

    from twin.store.styles import style_qml

    rows = run_sql(city.path, "SELECT f_table_schema, f_table_name, f_geometry_column, "
                              "styleqml::text, stylesld::text, useasdefault, owner "
                              "FROM layer_styles ORDER BY f_table_name")
    schema = run_sql(city.path, "SELECT current_schema()")[0][0]
    layers = {la.name: la for la in city.layers()}
    assert sorted(r[1] for r in rows) == sorted(layers)
    for sch, name, geom, qml, sld, default, owner in rows:
        la = layers[name]
        assert (sch, geom, default, owner) == (schema, "geom", True, "digital-twin-city")
        r, g, b = (int(la.colour[i:i + 2], 16) for i in (1, 3, 5))
        assert f"{r},{g},{b},255" in qml and la.colour in sld
        assert ElementTree.fromstring(sld).tag.endswith("StyledLayerDescriptor")
        assert ElementTree.fromstring(qml).tag == "qgis"
        assert qml == style_qml(la)
    # a user's default style of a new layer's name is kept; ours is added beside it
    run_sql(city.path, "INSERT INTO layer_styles (f_table_schema, f_table_name, stylename, "
                       "useasdefault, owner) VALUES (current_schema(), 'kiosks', 'mine', true, "
                       "'clerk')")
    city.add_layer(twin.Layer(name="kiosks", title="Kiosks", group="surface",
                              colour="#aa3300", geometry_type="POINT"))
    got = run_sql(city.path, "SELECT owner, useasdefault FROM layer_styles WHERE "
                             "f_table_name = 'kiosks' ORDER BY owner")
    assert got == [("clerk", True), ("digital-twin-city", False)]


@postgis_only
def test_a_client_cannot_write_into_a_layer_view(city):
    """PostgreSQL makes simple views writable; an edit saved from QGIS would
    change the twin past its batches. Each view refuses, saying how to edit."""
    import psycopg

    before = dump_twin(city.path)
    for sql in ("UPDATE buildings SET name = 'x'", "DELETE FROM heating",
                "INSERT INTO buildings (feature_id, type) VALUES ('n', 'B')"):
        with pytest.raises(psycopg.Error, match="read-only view of the twin.*twin import"):
            run_sql(city.path, sql)
    assert dump_twin(city.path) == before


# -- partitions ---------------------------------------------------------------------------
@pytest.mark.backends("postgis_part")
def test_the_partitioned_layout_spreads_rows_by_tile_and_keeps_ids_unique(city):
    parts = run_sql(city.path, "SELECT c.relname, p.partstrat FROM pg_partitioned_table p "
                               "JOIN pg_class c ON c.oid = p.partrelid ORDER BY 1")
    assert parts == [("twin_edges", "h"), ("twin_features", "h"), ("twin_meshes", "h")]
    key = run_sql(city.path, "SELECT a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
                             "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
                             "WHERE p.partrelid = 'twin_features'::regclass")
    assert key == [("tile",)]
    # a feature and its meshes and edge share a partition
    for table in ("twin_meshes", "twin_edges"):
        same, total = run_sql(
            city.path, f"SELECT COUNT(*) FILTER (WHERE f.tableoid::regclass::text = "
                       f"replace(x.tableoid::regclass::text, '{table}', 'twin_features')), "
                       f"COUNT(*) FROM {table} x JOIN twin_features f ON f.fid = x.fid")[0]
        assert same == total > 0
    # features kilometres apart fall into different tiles, and the tiles into partitions
    with city.import_batch("spread", "test", "tests", "1") as b:
        b.add([twin.Feature(id=f"far:{i}", layer="pipe_nodes", type="Valve",
                            footprint=Point(X0 + 1500 * i, Y0 - 1500 * i, GROUND))
               for i in range(20)])
    rows = run_sql(city.path, "SELECT min_x, min_y, max_x, max_y, tile FROM twin_features")
    b = np.array([(r[0], r[1], 0, r[2], r[3], 0) for r in rows], dtype=float)
    assert [r[4] for r in rows] == tile_keys(b).tolist()
    assert run_sql(city.path, "SELECT COUNT(DISTINCT tableoid) FROM twin_features")[0][0] == 4
    far = twin.Feature(id="test:B1", layer="buildings", type="Building",
                       footprint=Point(X0 + 9000, Y0 + 9000).buffer(5))
    with pytest.raises(twin.ImportFailedError, match="'test:B1' already exists"):
        with city.import_batch("again", "test", "tests", "1") as b:
            b.add([far])  # another tile, same id: still refused
    assert city.count(twin.Query(ids=("test:B1",))) == 1


# -- upgrades of server twins --------------------------------------------------------------
@postgis_only
def test_an_older_server_twin_is_refused_read_only_and_upgraded_writable(empty_twin,
                                                                        monkeypatch):
    from twin.store.postgis import store as pg_store

    url = empty_twin.path
    empty_twin.close()
    old = twin.store.SCHEMA_VERSION - 1
    run_sql(url, f"UPDATE twin_meta SET value = '{old}' WHERE key = 'schema_version'")
    with pytest.raises(twin.SchemaVersionError, match=f"schema version {old} .*twin upgrade"):
        twin.open_twin(url, readonly=True)

    def step(tx, meta):
        tx.execute("CREATE TABLE twin_step_ran (at text)")

    last = twin.store.SCHEMA_VERSION
    steps = [Migration(v, f"step {v}", lambda tx, meta: None) for v in range(2, last)] + [
        Migration(last, "a step", step)]
    monkeypatch.setattr(pg_store, "MIGRATIONS", tuple(steps))
    r = CliRunner().invoke(__import__("twin_cli.main", fromlist=["cli"]).cli, ["upgrade", url])
    assert r.exit_code == 0, r.output
    assert f"schema version {twin.store.SCHEMA_VERSION}" in r.output
    assert run_sql(url, "SELECT version, description FROM twin_migrations") == [
        (s.version, s.description) for s in steps if s.version > old]
    assert run_sql(url, "SELECT to_regclass('twin_step_ran') IS NOT NULL") == [(True,)]
    with twin.open_twin(url, readonly=True) as store:
        assert store.info().schema_version == twin.store.SCHEMA_VERSION


@postgis_only
def test_twin_init_and_info_on_a_server_url(pg_database):
    from twin_cli.main import cli

    schema = new_schema_name()
    url = with_params(pg_database, schema=schema)
    try:
        r = CliRunner().invoke(cli, ["init", url, "--crs", "EPSG:4546"])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(cli, ["info", url, "--json"])
        assert r.exit_code == 0, r.output
        assert '"features": 0' in r.output and "4546" in r.output
        r = CliRunner().invoke(cli, ["info", with_params(pg_database, schema="nothing_here")])
        assert r.exit_code == 2 and "holds no twin" in r.output
    finally:
        drop_schema(pg_database, schema)


# -- server locations -----------------------------------------------------------------
def test_server_urls_keep_libpq_parameters_and_ours_apart():
    from twin.store.location import parse_server

    loc = parse_server("postgresql://gis@db.example:5433/city?sslmode=require&schema=district_7"
                       "&partitions=16")
    assert (loc.schema, loc.partitions) == ("district_7", 16)
    assert loc.conninfo == "postgresql://gis@db.example:5433/city?sslmode=require"
    assert loc.display == "postgresql://gis@db.example:5433/city?sslmode=require&schema=district_7"
    assert parse_server("postgres:///city?host=/run/pg").schema == "public"
    for bad, why in (("postgresql://db/city?schema=Drop;Table", "schema 'Drop;Table'"),
                     ("postgresql://db/city?schema=pg_catalog", "schema 'pg_catalog'"),
                     ("postgresql://db/city?partitions=-3", "partitions='-3'")):
        with pytest.raises(twin.StoreError, match=why):
            parse_server(bad)


@postgis_only
def test_a_server_that_cannot_be_reached_is_a_clear_error_naming_it(pg_database):
    from twin_cli.main import cli

    url = re.sub(r"host=[^&]+", "host=%2Fno%2Fsuch%2Fsocket", pg_database)  # nobody there
    r = CliRunner().invoke(cli, ["info", url])
    assert r.exit_code == 2
    assert "cannot connect to the database" in r.output and "twintest" in r.output


@pytest.mark.backends("postgis", "postgis_part")
def test_the_spatial_indexes_of_a_server_twin_are_built_after_its_first_import(empty_twin):
    def gist():
        return {r[0] for r in run_sql(empty_twin.path, "SELECT indexname FROM pg_indexes "
                                      "WHERE schemaname = current_schema() AND indexdef "
                                      "LIKE ? AND tablename = 'twin_features'", ("%USING gist%",))}

    assert gist() == set()  # nothing to keep up to date while the first rows come
    with empty_twin.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    built = gist()
    assert {"twin_features_bounds", "twin_gis_type_multipolygon", "twin_gis_type_linestring",
            "twin_gis_type_point", "twin_gis_type_geometry"} == built
    empty_twin.add_layer(twin.Layer(name="street_trees", title="Trees", group="surface",
                                    colour="#228b22", geometry_type="POINT"))
    assert gist() == built | {"twin_gis_layer_street_trees"}
    assert [f.id for f in empty_twin.query(twin.Query(bbox=(X0 + 35, Y0 - 6, X0 + 45, Y0 + 1)))
            ] == ["test:B2", "test:P2"]


@pytest.mark.backends("postgis", "postgis_part")
def test_ids_layers_and_types_are_in_byte_order_as_in_the_geopackage(empty_twin):
    in_c = {tuple(r) for r in run_sql(
        empty_twin.path, "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND collation_name = 'C'")}
    assert {("twin_features", c) for c in ("feature_id", "layer", "type", "parent_id")} | {
        ("twin_history", "feature_id"), ("twin_meshes", "lod"), ("twin_edges", "network"),
        ("twin_edges", "start_node"), ("twin_edges", "end_node")} <= in_c
    ids = ["b", "B", "é", "a", "Z", "ä", "a-1", "a_1", "ab"]
    with empty_twin.import_batch("ids", "test", "tests", "1") as b:
        b.add([twin.Feature(id=i, layer="pipe_nodes", type="Valve",
                            footprint=Point(X0 + k, Y0, GROUND)) for k, i in enumerate(ids)])
    got = [r[0] for r in run_sql(empty_twin.path,
                                 "SELECT feature_id FROM twin_features ORDER BY feature_id")]
    assert got == sorted(ids, key=lambda i: i.encode("utf-8"))  # SQLite's BINARY order
    # a prefix, as the API's id filters write it
    q = twin.Query(filters=("id like a%",))
    assert sorted(f.id for f in empty_twin.query(q)) == ["a", "a-1", "a_1", "ab"]

"""``twin edits``: edits saved by a real GIS client (GDAL's GeoPackage driver,
the library QGIS writes a GeoPackage with: ``ogrinfo -sql``, ``ogr2ogr
-append``) into a twin's layers in edit mode become one validated import
batch; by default the layers stay read-only."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import twin
from twin_cli.main import cli

pytestmark = pytest.mark.gdal
READ_ONLY = "buildings is a read-only view of the twin"


def run(*args, code: int = 0) -> str:
    res = CliRunner(env={"COLUMNS": "250"}).invoke(cli, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res.output


def gdal_sql(path: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ogrinfo", "-q", path, "-sql", sql], capture_output=True, text=True,
                          timeout=120)


def gdal_append(path: str, src: Path, features: list[dict]) -> subprocess.CompletedProcess:
    src.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return subprocess.run(["ogr2ogr", "-update", "-append", path, str(src), "-nln", "buildings",
                           "-a_srs", "EPSG:4546"], capture_output=True, text=True, timeout=120)


def shed(x: float, y: float, **props) -> dict:
    ring = [[x, y], [x + 10, y], [x + 10, y + 8], [x, y + 8], [x, y]]
    return {"type": "Feature", "properties": {"name": "shed", **props},
            "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]}}


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def gpkg(city) -> str:
    path = city.path
    city.close()
    return path


def test_gdal_edits_become_one_batch_that_history_shows_and_remove_undoes(gpkg, tmp_path):
    with twin.open_twin(gpkg, readonly=True) as store:
        b2_before = store.get("test:B2").footprint
        b3_geom = store.get("test:B3").footprint
    assert "edit mode on for buildings" in run("edits", "enable", gpkg, "--layers", "buildings")
    # attributes and a geometry, as a client saves them
    assert gdal_sql(gpkg, "UPDATE buildings SET name = 'town hall', storeys = 7 "
                          "WHERE feature_id = 'test:B1'").stderr == ""
    assert gdal_sql(gpkg, "UPDATE buildings SET geom = (SELECT geom FROM buildings WHERE "
                          "feature_id = 'test:B3') WHERE feature_id = 'test:B2'").stderr == ""
    assert gdal_sql(gpkg, "DELETE FROM buildings WHERE feature_id = 'test:B3'").stderr == ""
    ins = gdal_append(gpkg, tmp_path / "new.geojson", [shed(559200.0, 4520900.0, storeys=1)])
    assert ins.returncode == 0, ins.stderr
    with twin.open_twin(gpkg, readonly=True) as store:  # nothing applied yet
        assert store.get("test:B1").name != "town hall"
        rev = store.revision()
    listed = json.loads(run("edits", "list", gpkg, "--json"))
    assert [e["op"] for e in listed] == ["update", "update", "delete", "insert"]
    assert listed[0]["changed"] == {"name": "town hall", "storeys": 7}
    assert listed[1]["geometry_changed"] and listed[1]["feature_id"] == "test:B2"
    # the other layers stay read-only
    assert "heating is a read-only view" in gdal_sql(gpkg, "DELETE FROM heating").stderr

    out = json.loads(run("edits", "apply", gpkg, "--json"))
    assert out | {"refused_edits": {}} == {"batch": 2, "changed": 2, "added": 1, "retired": 1,
                                            "unchanged": 0, "refused": 0, "refused_edits": {}}
    assert json.loads(run("edits", "list", gpkg, "--json")) == []
    with twin.open_twin(gpkg, readonly=True) as store:
        assert store.revision() > rev
        b1 = store.get("test:B1")
        assert (b1.name, b1.attributes["storeys"]) == ("town hall", 7)
        assert b1.attributes["function"] == "residential"  # untouched attributes stay
        assert store.get("test:B2").footprint.equals(b3_geom)
        with pytest.raises(twin.NotFoundError):
            store.get("test:B3")
        added = store.query(twin.Query(batch=2, layers=("buildings",)))
        new = [f for f in added if f.id.startswith("gis:")]
        assert len(new) == 1 and new[0].type == "Building" and new[0].attributes["storeys"] == 1
        batch = store.batches()[-1]
    assert batch.converter == "gis-edits" and "GIS edits saved in" in batch.source
    assert batch.report["edits"] == 4
    assert (batch.report["update"]["changed"], batch.report["update"]["retired"]) == (2, 1)
    hist = run("history", gpkg, "test:B1")
    assert "name, storeys" in hist and " 2 " in hist

    assert "removed batch 2" in run("batches", gpkg, "--remove", "2")
    with twin.open_twin(gpkg, readonly=True) as store:
        b1 = store.get("test:B1")
        assert b1.name != "town hall" and b1.attributes["storeys"] == 6
        assert store.get("test:B2").footprint.equals(b2_before)
        assert store.get("test:B3").footprint.equals(b3_geom)
        with pytest.raises(twin.NotFoundError):
            store.get(new[0].id)


def test_layers_are_read_only_by_default_and_again_after_disable(gpkg):
    upd = "UPDATE buildings SET name = 'x' WHERE feature_id = 'test:B1'"
    before = digest(gpkg)
    assert READ_ONLY in gdal_sql(gpkg, upd).stderr
    assert digest(gpkg) == before
    run("edits", "enable", gpkg)
    assert gdal_sql(gpkg, upd).stderr == ""
    # refused while an edit is pending; --discard drops it
    assert "1 edit(s) are pending" in run("edits", "disable", gpkg, code=2)
    assert "1 pending edit(s) discarded" in run("edits", "disable", gpkg, "--discard")
    assert READ_ONLY in gdal_sql(gpkg, upd).stderr
    # a writable open keeps edit mode (the GIS extras are complete)
    run("edits", "enable", gpkg, "--layers", "buildings")
    twin.open_twin(gpkg).close()
    assert gdal_sql(gpkg, upd).stderr == ""
    assert "discarded 1 pending edit(s)" in run("edits", "discard", gpkg)
    assert "no batch" in run("edits", "apply", gpkg)
    # the pending table is not a layer for GIS clients
    listing = subprocess.run(["ogrinfo", "-ro", "-q", gpkg], capture_output=True, text=True,
                             timeout=120).stdout
    assert "twin_pending_edits" not in listing and "buildings" in listing


def test_refused_edits_are_named_and_stay_pending(gpkg, tmp_path):
    run("edits", "enable", gpkg, "--layers", "buildings")
    gdal_sql(gpkg, "UPDATE buildings SET storeys = 'many' WHERE feature_id = 'test:B3'")
    gdal_sql(gpkg, "UPDATE buildings SET geom = (SELECT geom FROM pipe_nodes LIMIT 1) "
                   "WHERE feature_id = 'test:B2'")
    # longitude/latitude written as if they were the twin CRS's metres
    assert gdal_append(gpkg, tmp_path / "lonlat.geojson", [shed(111.6, 40.8)]).returncode == 0
    gdal_sql(gpkg, "UPDATE buildings SET name = 'fine' WHERE feature_id = 'test:B1'")
    out = run("edits", "apply", gpkg)
    assert "1 changed, 0 added, 0 retired, 0 unchanged, 3 refused" in out
    assert "edit 1 (update of 'test:B3' in layer 'buildings')" in out
    assert "'storeys' must be a number, got 'many'" in out
    assert "edit 2 (update of 'test:B2'" in out and "holds polygons, got a Point" in out
    assert "placed where it cannot belong" in out or "area of use" in out
    left = json.loads(run("edits", "list", gpkg, "--json"))
    assert [e["edit"] for e in left] == [1, 2, 3]
    assert "'many'" in left[0]["refused"] and "Point" in left[1]["refused"]
    with twin.open_twin(gpkg, readonly=True) as store:
        assert store.get("test:B1").name == "fine"
        assert store.get("test:B3").attributes["storeys"] == 4
        assert store.get("test:B2").footprint.geom_type == "MultiPolygon"


def test_strict_apply_refuses_all_and_leaves_the_file_unchanged(gpkg):
    run("edits", "enable", gpkg, "--layers", "buildings")
    gdal_sql(gpkg, "UPDATE buildings SET name = 'fine' WHERE feature_id = 'test:B1'")
    gdal_sql(gpkg, "UPDATE buildings SET storeys = 2.5 WHERE feature_id = 'test:B3'")
    before = digest(gpkg)
    out = run("edits", "apply", gpkg, "--strict", code=2)
    assert "1 of 2 pending edit(s) refused, nothing applied (--strict)" in out
    assert "'storeys'" in out and "test:B3" in out
    assert digest(gpkg) == before
    assert len(json.loads(run("edits", "list", gpkg, "--json"))) == 2


def test_an_edit_that_changes_nothing_leaves_no_batch_and_is_done(gpkg):
    run("edits", "enable", gpkg, "--layers", "buildings")
    gdal_sql(gpkg, "UPDATE buildings SET name = name, storeys = storeys * 1")
    assert len(json.loads(run("edits", "list", gpkg, "--json"))) == 3
    with twin.open_twin(gpkg, readonly=True) as store:
        batches = len(store.batches())
    out = json.loads(run("edits", "apply", gpkg, "--json"))
    assert (out["batch"], out["changed"], out["unchanged"], out["refused"]) == (0, 0, 3, 0)
    assert json.loads(run("edits", "list", gpkg, "--json")) == []
    with twin.open_twin(gpkg, readonly=True) as store:
        assert len(store.batches()) == batches


def test_an_unknown_layer_is_named(gpkg):
    assert "no layer 'houses'" in run("edits", "enable", gpkg, "--layers", "houses", code=2)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=False, width=32),
                       st.text(max_size=6), st.sampled_from(["12", "7.0", "x1", ""])))
@example(value=float("inf"))  # SQLite's json_object writes it as Inf, which is not JSON
@example(value=float("-inf"))
def test_a_typed_column_edit_is_stored_with_its_type_or_refused_naming_it(gpkg, value):
    """Whatever a client writes into ``storeys`` (an SQLite client here: the
    same triggers), apply stores an integer or refuses the edit naming the
    column, the feature and the value, leaving it pending and the twin as it was."""
    run("edits", "enable", gpkg, "--layers", "buildings")
    conn = sqlite3.connect(gpkg)
    conn.execute("UPDATE buildings SET storeys = ? WHERE feature_id = 'test:B2'", (value,))
    conn.commit()
    conn.close()
    with twin.open_twin(gpkg, readonly=True) as store:
        before = store.get("test:B2").attributes["storeys"]
    out = json.loads(run("edits", "apply", gpkg, "--json"))
    with twin.open_twin(gpkg, readonly=True) as store:
        after = store.get("test:B2").attributes.get("storeys")
    if out["refused"]:
        why = next(iter(out["refused_edits"].values()))
        assert "'storeys'" in why and "test:B2" in why and after == before
        assert len(json.loads(run("edits", "list", gpkg, "--json"))) == 1
        run("edits", "discard", gpkg)
    else:
        assert isinstance(after, int) and float(after) == float(value)
        assert json.loads(run("edits", "list", gpkg, "--json")) == []


def _ogr_pg(url: str) -> str:
    import psycopg

    from twin.store.location import parse_server

    loc = parse_server(url)
    params = psycopg.conninfo.conninfo_to_dict(loc.conninfo)
    return ("PG:" + " ".join(f"{k}={params[k]}" for k in ("host", "port", "dbname", "user")
                             if k in params) + f" schemas={loc.schema}")


@pytest.mark.backends("postgis")
def test_a_postgis_twin_records_gdal_edits_and_applies_them_as_one_batch(city, tmp_path):
    url, pg = city.path, _ogr_pg(city.path)
    with twin.open_twin(url, readonly=True) as store:
        b3_geom = store.get("test:B3").footprint
    city.close()
    upd = "UPDATE buildings SET name = 'town hall', storeys = 7 WHERE feature_id = 'test:B1'"
    assert "read-only view of the twin" in gdal_sql(pg, upd).stderr  # the default
    assert "edit mode on for buildings" in run("edits", "enable", url, "--layers", "buildings")
    assert "ERROR" not in gdal_sql(pg, upd).stderr
    assert "ERROR" not in gdal_sql(pg, "UPDATE buildings SET geom = (SELECT geom FROM buildings "
                                       "WHERE feature_id = 'test:B3') WHERE feature_id = "
                                       "'test:B2'").stderr
    assert "ERROR" not in gdal_sql(pg, "DELETE FROM buildings WHERE feature_id = 'test:B3'"
                                   ).stderr
    assert "read-only view" in gdal_sql(pg, "DELETE FROM heating").stderr
    listed = json.loads(run("edits", "list", url, "--json"))
    assert [e["op"] for e in listed] == ["update", "update", "delete"]
    out = json.loads(run("edits", "apply", url, "--json"))
    assert (out["batch"], out["changed"], out["retired"], out["refused"]) == (2, 2, 1, 0)
    with twin.open_twin(url, readonly=True) as store:
        b1 = store.get("test:B1")
        assert (b1.name, b1.attributes["storeys"]) == ("town hall", 7)
        assert store.get("test:B2").footprint.equals(b3_geom)
        assert store.batches()[-1].converter == "gis-edits"
    run("batches", url, "--remove", "2")
    with twin.open_twin(url, readonly=True) as store:
        assert store.get("test:B1").attributes["storeys"] == 6
        assert store.get("test:B3").footprint.equals(b3_geom)
    run("edits", "disable", url)
    assert "read-only view of the twin" in gdal_sql(pg, upd).stderr

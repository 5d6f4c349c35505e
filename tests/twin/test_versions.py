"""Feature versions: updates by identity, the history, as-of queries and
batch removal, on every store backend and layout."""

from __future__ import annotations

import pytest
import shapely
from builders import (
    X0,
    Y0,
    back_to_schema_2,
    building,
    dump_twin,
    run_sql,
    second_year,
    small_city,
    update,
)

import twin
from twin.store import resolve_as_of

pytestmark = pytest.mark.backends("gpkg", "postgis", "postgis_part")


def snapshot(store, **query) -> dict[str, tuple]:
    """Every feature a query returns, as exactly as the twin gives it back:
    fields, attributes, geometry as WKB, bounds, meshes as raw arrays, edge,
    provenance batch."""
    out = {}
    for f in store.query(twin.Query(with_meshes=True, **query)):
        meshes = tuple(sorted((lod, m.vertices.tobytes(), m.faces.tobytes())
                              for lod, m in f.meshes.items()))
        out[f.id] = (f.layer, f.type, f.name, f.parent, f.lod, sorted(f.attributes.items()),
                     None if f.footprint is None else shapely.to_wkb(f.footprint),
                     f.bbox, meshes, f.edge, f.provenance.batch_id)
    return out


def test_reimporting_an_unchanged_delivery_changes_nothing(empty_twin, twin_location):
    store = empty_twin
    first = update(store, small_city())
    assert first.report["update"]["added"] == 8
    before, rev = dump_twin(twin_location), store.revision()
    again = update(store, small_city(), retire="layers")
    assert again.id == 0  # rolled back: no batch recorded
    assert again.report["update"] | {"changes": [], "retired_ids": []} == {
        "added": 0, "changed": 0, "unchanged": 8, "retired": 0, "what_changed": {},
        "moved": {"count": 0, "max_m": 0.0, "mean_m": 0.0}, "changes": [], "retired_ids": []}
    assert store.revision() == rev
    assert dump_twin(twin_location) == before
    assert [b.id for b in store.batches()] == [first.id]


def test_a_changed_delivery_adds_changes_and_retires_exactly(empty_twin, twin_location):
    store = empty_twin
    first = update(store, small_city())
    b = update(store, second_year(), retire="layers")
    rep = b.report["update"]
    assert (rep["added"], rep["changed"], rep["unchanged"], rep["retired"]) == (1, 2, 5, 1)
    assert rep["retired_ids"] == ["test:B3"]
    assert rep["what_changed"] == {"geometry": 1, "height": 1, "name": 1, "storeys": 1}
    assert rep["moved"] == {"count": 1, "max_m": 2.0, "mean_m": 2.0}
    assert {c["id"]: c["changed"] for c in rep["changes"]} == {
        "test:B1": ["height", "storeys", "geometry"], "test:V2": ["name"]}
    # the current state is the second year, the earlier versions are kept
    assert set(snapshot(store)) == {f.id for f in second_year()}
    assert store.get("test:B1").attributes["storeys"] == 7
    hist = run_sql(twin_location, "SELECT feature_id, batch_id, retired_batch FROM "
                                  "twin_history ORDER BY feature_id")
    assert [tuple(r) for r in hist] == [("test:B1", first.id, b.id), ("test:B3", first.id, b.id),
                                        ("test:V2", first.id, b.id)]
    # the first batch holds what it still holds now, and says who replaced the rest
    old, new = store.batches()
    assert (old.feature_count, new.feature_count) == (5, 3)
    assert old.report["replaced_by"] == {str(new.id): 3}


def test_as_of_returns_the_earlier_state_exactly(empty_twin):
    store = empty_twin
    first = update(store, small_city())
    then = snapshot(store)
    then_box = snapshot(store, bbox=(X0 - 1, Y0 - 1, X0 + 25, Y0 + 13))
    second = update(store, second_year(), retire="layers")
    assert snapshot(store, as_of=first.id) == then
    assert snapshot(store, as_of=first.id, bbox=(X0 - 1, Y0 - 1, X0 + 25, Y0 + 13)) == then_box
    assert store.count(twin.Query(as_of=first.id)) == len(then)
    assert snapshot(store, as_of=second.id) == snapshot(store)
    assert snapshot(store, as_of=0) == {}
    # a date: the last batch committed by then
    assert resolve_as_of(store, "2000-01-01") == 0
    assert resolve_as_of(store, "2999-12-31") == second.id
    assert resolve_as_of(store, str(first.id)) == first.id
    # what str.strip drops around a number, int() may not (found by the API fuzz test)
    assert resolve_as_of(store, f"\x1c{first.id}\u2028") == first.id
    with pytest.raises(twin.OptionError, match="as-of batch 99 does not exist"):
        resolve_as_of(store, 99)
    with pytest.raises(twin.OptionError, match="neither an import batch number nor"):
        resolve_as_of(store, "last year")


def test_removing_an_update_restores_the_previous_versions(empty_twin, twin_location):
    store = empty_twin
    first = update(store, small_city())
    then = snapshot(store)
    batches_then = [(b.id, b.feature_count, b.report.get("replaced_by")) for b in store.batches()]
    second = update(store, second_year(), retire="layers")
    with pytest.raises(twin.StoreError, match=f"remove batch {second.id} first"):
        store.remove_batch(first.id)
    assert store.remove_batch(second.id) == 3
    assert snapshot(store) == then
    assert [(b.id, b.feature_count, b.report.get("replaced_by"))
            for b in store.batches()] == batches_then
    assert run_sql(twin_location, "SELECT COUNT(*) FROM twin_history")[0][0] == 0
    # the restored versions are found by the spatial index again
    assert set(snapshot(store, bbox=(X0 + 79, Y0 + 29, X0 + 81, Y0 + 31))) == {"test:B3"}


def test_retiring_within_the_extent_keeps_what_lies_outside(empty_twin):
    store = empty_twin
    update(store, small_city())
    # a delivery of building 2 alone: building 1 overlaps its extent? no: only
    # features wholly inside the delivery's extent are retired
    b2 = next(f for f in small_city() if f.id == "test:B2")
    rep = update(store, [b2, building(9, X0 + 41, Y0 + 1, 2)], retire="extent").report
    assert rep["update"]["retired"] == 0 and rep["update"]["added"] == 1
    rep = update(store, [building(9, X0 + 41, Y0 + 1, 2)], retire="layers").report
    assert rep["update"]["retired_ids"] == ["test:B1", "test:B2", "test:B3"]


def test_retire_needs_an_update_and_a_known_mode(empty_twin):
    with pytest.raises(twin.OptionError, match="needs on_conflict='update'"):
        with empty_twin.import_batch("x", "t", "t", "1", retire_missing="layers"):
            pass
    with pytest.raises(twin.OptionError, match="'everything' is not valid"):
        with empty_twin.import_batch("x", "t", "t", "1", on_conflict="update",
                                     retire_missing="everything"):
            pass


def test_a_schema_2_twin_is_upgraded_and_its_digests_match_a_reimport(twin_location):
    store = twin.create_twin(twin_location, "EPSG:4546")
    update(store, small_city())
    store.close()
    back_to_schema_2(twin_location)  # as a twin written by the toolkit before versions
    with pytest.raises(twin.SchemaVersionError):
        twin.open_twin(twin_location, readonly=True)
    with twin.open_twin(twin_location) as store:
        assert store.info().schema_version == twin.store.SCHEMA_VERSION
        b = update(store, small_city())
        assert b.id == 0 and b.report["update"]["unchanged"] == 8
        b = update(store, second_year(), retire="layers")
        assert b.report["update"]["changed"] == 2


def test_a_twin_from_before_digest_formats_keeps_its_digests_valid(twin_location):
    """A twin made before ``digest_format`` was recorded hashes numbers as
    text (format 1): its imports write what its upgrade to versions computes
    from the stored rows, and a re-import finds the features unchanged."""
    twin.create_twin(twin_location, "EPSG:4546").close()
    run_sql(twin_location, "DELETE FROM twin_meta WHERE key = 'digest_format'")
    with twin.open_twin(twin_location) as store:
        assert store.digest_format == 1
        update(store, small_city())
        written = sorted(store.version_index(()))
    with twin.open_twin(twin_location) as store:
        assert update(store, small_city()).report["update"]["unchanged"] == 8
    back_to_schema_2(twin_location)
    with twin.open_twin(twin_location) as store:  # digests computed from the rows
        assert sorted(store.version_index(())) == written
    if not str(twin_location).startswith("postgresql"):  # (digests differ by backend)
        with twin.create_twin(str(twin_location) + "-new.gpkg", "EPSG:4546") as new:
            assert new.digest_format == 2  # the same features, other digests
            update(new, small_city())
            assert sorted(new.version_index(())) != written


def test_a_view_as_of_a_batch_reads_the_earlier_state_everywhere(empty_twin):
    store = empty_twin
    first = update(store, small_city())
    then = snapshot(store)
    edges_then = sorted(store.edges())
    update(store, second_year(), retire="layers")
    view = store.at(first.id)
    assert snapshot(view) == then
    assert view.get("test:B1").attributes["storeys"] == 6
    assert view.get("test:B3").id == "test:B3"
    with pytest.raises(twin.NotFoundError):
        view.get("test:B4")
    assert sorted(view.edges()) == edges_then
    assert view.nearest(X0 + 81, Y0 + 31)[0][0].id == "test:B3"
    assert store.get("test:B1").attributes["storeys"] == 7  # the store itself is now
    with pytest.raises(twin.StoreError, match="read-only"):
        update(view, small_city())


@pytest.mark.backends("gpkg", "postgis")
def test_a_copy_keeps_the_history(empty_twin, tmp_path):
    from twin.store.copy import copy_twin

    store = empty_twin
    first = update(store, small_city())
    then = snapshot(store)
    update(store, second_year(), retire="layers")
    now = snapshot(store)
    with copy_twin(store, tmp_path / "copy.gpkg") as dup:
        assert snapshot(dup) == now
        assert snapshot(dup, as_of=first.id) == then
        assert snapshot(dup, as_of=first.id, bbox=(X0 + 79, Y0 + 29, X0 + 81, Y0 + 31)) == {
            "test:B3": then["test:B3"]}
        b3 = run_sql(dup.path, "SELECT retired_batch FROM twin_history WHERE feature_id = ?",
                     ("test:B3",))
        assert [r[0] for r in b3] == [store.batches()[-1].id]


def test_retiring_keeps_to_the_features_of_the_same_converter(empty_twin):
    store = empty_twin
    update(store, small_city())  # converter "tests"
    with store.import_batch("model.ifc", "IFC", "ifc", "1", on_conflict="update",
                            retire_missing="layers") as b:
        b.add([building(7, X0 + 200, Y0, 3)])
    assert b.report["update"]["retired"] == 0  # an IFC never retires another's buildings
    with store.import_batch("model.ifc", "IFC", "ifc", "1", on_conflict="update",
                            retire_missing="layers") as b:
        b.add([building(8, X0 + 230, Y0, 3)])
    assert b.report["update"]["retired_ids"] == ["test:B7"]


def test_an_edited_feature_gets_the_delivery_back_on_the_next_update(empty_twin):
    store = empty_twin
    update(store, small_city())
    store.update_attributes("test:B2", {"storeys": 99})
    b = update(store, small_city())
    assert (b.report["update"]["changed"], b.report["update"]["unchanged"]) == (1, 7)
    assert store.get("test:B2").attributes["storeys"] == 20


@pytest.mark.backends("postgis", "postgis_part")
def test_a_copy_into_a_server_keeps_the_history(twin_location, tmp_path):
    from twin.store.copy import copy_twin

    src = twin.create_twin(tmp_path / "src.gpkg", "EPSG:4546")
    try:
        first = update(src, small_city())
        then = snapshot(src)
        update(src, second_year(), retire="layers")
        now = snapshot(src)
        with copy_twin(src, twin_location, overwrite=True) as dup:
            assert snapshot(dup) == now
            assert snapshot(dup, as_of=first.id) == then
            # and the copy takes the next update like the original
            b = update(dup, second_year())
            assert b.id == 0 and b.report["update"]["unchanged"] == 8
    finally:
        src.close()


def test_every_version_of_a_feature_with_its_validity(empty_twin):
    store = empty_twin
    first = update(store, small_city())
    second = update(store, second_year(), retire="layers")
    b1 = store.versions_of("test:B1")
    assert [(v["batch"], v["retired_batch"], v["feature"].attributes["storeys"])
            for v in b1] == [(first.id, second.id, 6), (second.id, None, 7)]
    times = {b.id: b.finished for b in store.batches()}
    assert (b1[0]["valid_from"], b1[0]["valid_to"], b1[1]["valid_to"]) == (
        times[first.id], times[second.id], None)
    assert set(b1[0]["feature"].meshes) == {"1"}  # the old version's mesh is kept
    b3 = store.versions_of("test:B3")
    assert [(v["batch"], v["retired_batch"]) for v in b3] == [(first.id, second.id)]
    assert store.versions_of("test:nothing") == []

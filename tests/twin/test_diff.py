"""``twin diff``: the changes between two moments of one twin or between two
twins, on hand-made twins whose changes are known."""

from __future__ import annotations

import pytest
from builders import X0, Y0, building, second_year, small_city, update

import twin
from twin.diff import diff_twins

pytestmark = pytest.mark.backends("gpkg", "postgis")

#: the changes second_year() makes, exactly
EXPECTED = {
    ("test:B1", "buildings", "changed", ("height", "storeys", "geometry: moved", "top_z")),
    ("test:B3", "buildings", "removed", ()),
    ("test:B4", "buildings", "added", ()),
    ("test:V2", "pipe_nodes", "changed", ("name",)),
}


def listed(cs) -> set[tuple]:
    return {(c.id, c.layer, c.kind, c.what) for c in cs.changes}


def test_diff_of_two_moments_of_one_twin_lists_exactly_the_known_changes(empty_twin):
    store = empty_twin
    first = update(store, small_city())
    second = update(store, second_year(), retire="layers")
    cs = diff_twins(store.at(first.id), store.at(second.id))
    assert listed(cs) == EXPECTED
    assert cs.unchanged == 5
    assert cs.counts() == {"buildings": {"added": 1, "removed": 1, "changed": 1},
                           "pipe_nodes": {"added": 0, "removed": 0, "changed": 1}}
    b1 = next(c for c in cs.changes if c.id == "test:B1")
    assert b1.moved == pytest.approx(2.0) and b1.reshaped == pytest.approx(0.0, abs=1e-9)
    assert (b1.before["storeys"], b1.after["storeys"]) == (6, 7)
    # backwards: the same changes, the other way round
    back = diff_twins(store.at(second.id), store)
    assert back.changes == []
    rev = diff_twins(store, store.at(first.id))
    assert {(c.id, c.kind) for c in rev.changes} == {
        ("test:B1", "changed"), ("test:B3", "added"), ("test:B4", "removed"),
        ("test:V2", "changed")}
    gj = cs.to_geojson()
    assert {f["properties"]["change"] for f in gj["features"]} == {"added", "removed",
                                                                    "changed"}
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon", "Point")
               for f in gj["features"])


def test_diff_of_two_twins_compares_by_value(empty_twin, tmp_path):
    other = twin.create_twin(tmp_path / "other.gpkg", "EPSG:4546")
    try:
        with empty_twin.import_batch("a", "t", "t", "1") as b:
            b.add(small_city())
        feats = second_year()
        # reshaped, not moved: building 2 one metre longer on both ends
        feats = [f for f in feats if f.id != "test:B2"] + [
            building(2, X0 + 40, Y0, 20, function="residential", year_built=2019)]
        from shapely.geometry import box
        b2 = feats[-1]
        feats[-1] = twin.Feature(id=b2.id, layer=b2.layer, type=b2.type, name=b2.name,
                                 footprint=box(X0 + 39, Y0, X0 + 61, Y0 + 12),
                                 meshes=b2.meshes, attributes=dict(b2.attributes))
        with other.import_batch("b", "t", "t", "1") as b:
            b.add(feats)
        cs = diff_twins(empty_twin, other, tolerance=0.05)
        got = listed(cs)
        assert ("test:B2", "buildings", "changed", ("geometry: reshaped",)) in got
        assert got - {("test:B2", "buildings", "changed", ("geometry: reshaped",))} == EXPECTED
        assert cs.unchanged == 4
    finally:
        other.close()


def test_a_bad_tolerance_is_refused(empty_twin):
    with pytest.raises(twin.OptionError, match="tolerance must be >= 0"):
        diff_twins(empty_twin, empty_twin, tolerance=-1)


def test_a_diff_as_a_highlight_for_the_viewers(empty_twin):
    from viewer.highlight import ADDED, CHANGED, REMOVED, highlight

    store = empty_twin
    first = update(store, small_city())
    update(store, second_year(), retire="layers")
    hl = highlight(store, f"changes:{first.id}")
    assert [(g.label, g.colour, set(g.ids)) for g in hl.groups] == [
        ("added", ADDED, {"test:B4"}), ("changed", CHANGED, {"test:B1", "test:V2"}),
        ("removed", REMOVED, {"test:B3"})]
    assert "1 added, 2 changed, 1 removed" in hl.title and hl.notes
    with pytest.raises(twin.TwinError, match="needs the moment"):
        highlight(store, "changes")


def test_a_change_of_the_mesh_alone_is_found(empty_twin, tmp_path):
    other = twin.create_twin(tmp_path / "other.gpkg", "EPSG:4546")
    try:
        b1 = building(1, X0, Y0, 6)
        m = b1.meshes["1"]
        v = m.vertices.copy()
        v[0, :2] += 0.5  # one corner pulled in: same footprint, same bounds
        dented = twin.Feature(id=b1.id, layer=b1.layer, type=b1.type, name=b1.name,
                              footprint=b1.footprint, attributes=dict(b1.attributes),
                              meshes={"1": twin.Mesh(v, m.faces)})
        with empty_twin.import_batch("a", "t", "t", "1") as b:
            b.add([b1])
        with other.import_batch("b", "t", "t", "1") as b:
            b.add([dented])
        assert listed(diff_twins(empty_twin, other)) == {
            ("test:B1", "buildings", "changed", ("mesh",))}
        assert listed(diff_twins(empty_twin, other, tolerance=1.0)) == set()
    finally:
        other.close()

"""IFC imports stream: elements reach the store a chunk at a time, inside the
import's one transaction; the result does not depend on the chunks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builders import dump_twin
from hypothesis import given
from hypothesis import strategies as st
from pyproj import CRS

import twin
from converters import import_file
from converters.base import ConversionContext
from converters.ifc import convert
from twin.errors import ImportFailedError
from twin.query import Query
from twin.store import writer as store_writer

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models" / "ifc"
FZK = SAMPLES / "AC20-FZK-Haus.ifc"
#: FZK's site and one of its walls (the wall streams early, the site comes last)
SITE_GUID, WALL_GUID = "0KMpiAlnb52RgQuM1CwVfd", "2XPyKWY018sA1ygZKgQPtU"


def _state(store) -> tuple[dict, dict]:
    """Every feature of a twin with its geometry and meshes, by id."""
    feats = {}
    for f in store.query(Query()):
        meshes = {lod: (m.vertices.tobytes(), m.faces.tobytes(),
                        None if m.face_labels is None else m.face_labels.tobytes(),
                        m.labels)
                  for lod, m in store.meshes(f.id).items()}
        feats[f.id] = (f.layer, f.type, f.name, f.parent, f.source_id,
                       json.dumps(f.attributes, sort_keys=True, default=str),
                       None if f.footprint is None else f.footprint.wkb, f.bbox, meshes)
    return feats


def _report(res) -> dict:
    """The import's report less its timings."""
    rep = json.loads(json.dumps(res.report, default=str))
    for k in ("seconds", "duration_s"):
        rep.pop(k, None)
    for run in rep["source"]["geometry"]["kernels"]:
        run.pop("seconds")
    rep["notes"] = [n for n in rep["notes"] if not n["text"].startswith("geometry:")]
    return rep


def test_streamed_import_equals_the_whole_model_at_once(tmp_path):
    """Every element its own chunk against the whole model in one chunk (as
    before streaming): the same features, meshes, envelope and report."""
    results = {}
    for name, chunk in (("one", 10**12), ("streamed", 1)):
        store = twin.create_twin(tmp_path / f"{name}.gpkg", "EPSG:25832")
        res = import_file(store, FZK, options={"chunk_vertices": chunk})
        results[name] = (_state(store), _report(res))
        store.close()
    whole, streamed = results["one"], results["streamed"]
    assert len(whole[0]) == 93
    assert whole[0].keys() == streamed[0].keys()
    for fid in whole[0]:
        assert streamed[0][fid] == whole[0][fid], fid
    assert streamed[1] == whole[1]
    building = next(v for v in whole[0].values() if v[0] == "buildings")
    assert building[8]["1"][0]  # the LoD1 envelope was built from the streamed parts


def test_elements_come_out_while_the_kernels_still_work(tmp_path):
    """The converter yields element features before the geometry is done."""
    seen: list[int] = []
    converted = [0]
    ctx = ConversionContext(twin_crs=CRS.from_epsg(25832), source=FZK,
                            options={"chunk_vertices": 1},
                            progress=lambda n, total: converted.__setitem__(0, n or 0))
    for feat in convert(ctx):
        seen.append(converted[0])
        assert feat.id.startswith("ifc:")
    meshes = ctx.report["geometry"]["converted"]
    assert meshes == 90 and len(seen) == 93
    assert seen[0] < meshes / 2  # the first element came with the first meshes
    assert seen == sorted(seen)


@pytest.mark.backends("gpkg", "postgis")
def test_failure_late_in_a_streamed_import_leaves_the_twin_unchanged(tmp_path, twin_location,
                                                                    monkeypatch):
    """FZK with its site given a wall's GlobalId: the wall goes to the store
    in an early chunk, the site comes last and clashes with it. Several
    chunks are written before the failure; the twin (holding FZK already,
    under other ids) keeps none of them."""
    store = twin.create_twin(twin_location, "EPSG:25832")
    import_file(store, FZK, options={"id_prefix": "first"})
    bad = tmp_path / "clash.ifc"
    text = FZK.read_bytes()
    assert text.count(f"IFCSITE('{SITE_GUID}'".encode()) == 1
    bad.write_bytes(text.replace(f"IFCSITE('{SITE_GUID}'".encode(),
                                 f"IFCSITE('{WALL_GUID}'".encode()))
    monkeypatch.setattr(store_writer, "CHUNK_VERTICES", 2_000)
    chunks = []
    real = store_writer.ChunkedBatchWriter._prepare
    monkeypatch.setattr(store_writer.ChunkedBatchWriter, "_prepare",
                        lambda self, feats: chunks.append(len(feats)) or real(self, feats))
    before = dump_twin(twin_location)
    chunks.clear()
    with pytest.raises(ImportFailedError, match=rf"clash.ifc.*ifc:{WALL_GUID}.*appears twice"):
        import_file(store, bad, options={"chunk_vertices": 1_000})
    assert len(chunks) >= 3 and sum(chunks) >= 50  # written a chunk at a time
    assert dump_twin(twin_location) == before
    assert store.info().feature_count == 93
    store.close()


def test_a_one_byte_geometry_cache_gives_the_same_meshes():
    """FZK maps shared representations onto several elements. With a cache
    of one byte each end of the worker's stream forgets every geometry as
    soon as the next comes (the kernel hands elements sharing one in a row,
    so none is sent twice here); the meshes are those of a large cache."""
    import ifcopenshell

    from converters.ifc_geometry import EXCLUDED_CLASSES, element_meshes

    model = ifcopenshell.open(str(FZK))
    sources = [m.MappingSource.id() for m in model.by_type("IfcMappedItem")]
    assert len(sources) > len(set(sources))  # representations shared by elements
    ids = [p.id() for p in model.by_type("IfcProduct") if p.Representation is not None
           and not any(p.is_a(c) for c in EXCLUDED_CLASSES)]
    big = element_meshes(str(FZK), ids, kernels=("manifold",))
    tiny = element_meshes(str(FZK), ids, kernels=("manifold",), cache_bytes=1)
    assert len(big.meshes) == 90 and big.meshes.keys() == tiny.meshes.keys()
    for sid, mesh in big.meshes.items():
        other = tiny.meshes[sid]
        assert np.array_equal(mesh.vertices, other.vertices), sid
        assert np.array_equal(mesh.faces, other.faces), sid
        assert mesh.materials == other.materials, sid


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=60),
       st.integers(min_value=1, max_value=120))
def test_geometry_caches_fed_alike_forget_alike(sizes, budget):
    """The worker's and the reader's caches keep the same geometries: the
    newest always, the older ones while the budget allows, oldest out first."""
    from converters.ifc_worker import GeometryCache

    worker, reader = GeometryCache(budget), GeometryCache(budget)
    for gid, size in enumerate(sizes):
        worker.put(gid, f"kernel-{gid}", size)
        reader.put(gid, ("arrays", gid), size)
        assert list(worker.items) == list(reader.items)
        assert gid in reader.items
        kept = list(reader.items)
        assert kept == list(range(kept[0], gid + 1))  # the newest ones, in order
        assert reader.size == sum(sizes[k] for k in kept)
        assert reader.size <= budget or len(kept) == 1

"""IFC import speed work: the geometry workers are forked from the model the
import parsed, and the fast entity access gives what ifcopenshell's own
utilities give, on real models (IFC4, IFC2X3, IFC4 infrastructure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ifcopenshell.util.element as ue
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

import converters.ifc as ifc_mod
import twin
from converters import ifc_fork, import_file
from converters.base import ConversionContext
from converters.ifc_attributes import NEVER_DERIVED, attribute, length_unit_scale
from converters.ifc_georef import read_georef
from converters.ifc_model import Model
from converters.ifc_open import open_model
from converters.ifc_semantics import (
    aggregate_of,
    container_of,
    is_any,
    materials_of,
    nest_of,
    tree_parent,
    type_of,
)

IFC = Path(__file__).resolve().parents[2] / "sample_models" / "ifc"
MODELS = {"FZK": (IFC / "AC20-FZK-Haus.ifc", "EPSG:25832"),
          "duplex": (IFC / "duplex.ifc", "EPSG:26916"),
          "drainage": (IFC / "infra_DrainageSystem-2.IFC", "EPSG:3878")}
#: attributes some classes have and others lack (forward, inverse, derived)
NAMES = ("Name", "LongName", "PredefinedType", "ObjectType", "Tag", "Elevation",
         "IsDefinedBy", "IsTypedBy", "Decomposes", "ContainedInStructure",
         "HasAssociations", "NoSuchAttribute", "Dim", "UnitType", "Nests", "FillsVoids",
         "VoidsElements", "AdheresToElement")


def _entities(model):
    """Products, type objects and a few other entities of the model."""
    out = list(model.by_type("IfcProduct")) + list(model.by_type("IfcTypeObject"))
    for cls in ("IfcSIUnit", "IfcCartesianPoint", "IfcDirection"):
        out += list(model.by_type(cls))[:20]
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_access_equals_ifcopenshell_utilities(name):
    model, _ = open_model(MODELS[name][0], {})
    entities = _entities(model)
    assert len(entities) > 30
    for e in entities:
        for attr in NAMES:
            assert attribute(e, attr) == getattr(e, attr, None), (e, attr)
        for classes in (("IfcWall", "IfcSlab"), ("IfcSpatialElement",
                                                  "IfcSpatialStructureElement"),
                        ("IfcTypeObject",), ("IfcElement",)):
            assert is_any(e, classes) == any(e.is_a(c) for c in classes)
        if not e.is_a("IfcObjectDefinition"):
            continue
        etype = type_of(e)
        assert etype == ue.get_type(e), e
        assert aggregate_of(e) == ue.get_aggregate(e), e
        assert materials_of(e, etype) == ue.get_materials(e), e


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_containers_equal_ifcopenshell(name):
    path, crs = MODELS[name]
    model, _ = open_model(path, {})
    ctx = ConversionContext(twin_crs=CRS(crs), source=path, options={"origin": (0, 0, 0)})
    georef = read_georef(model, str(path), crs=CRS(crs), origin=(0.0, 0.0, 0.0), rotation=None,
                         twin_crs=CRS(crs))
    m = Model(model, ctx, georef)
    for p in model.by_type("IfcProduct"):
        assert m.container(p) == ue.get_container(p), p
        assert m.aggregate(p) == ue.get_aggregate(p), p


def _track_processes(monkeypatch) -> tuple[list[int], list[int]]:
    """The pids of the forkers and workers the imports start."""
    forkers: list[int] = []
    workers: list[int] = []
    init, start = ifc_fork.Forker.__init__, ifc_fork.Forker.start

    def tracked_init(self, model, spawn_from=None):
        init(self, model, spawn_from)
        forkers.append(self.pid)

    def tracked_start(self, request):
        pid, fd = start(self, request)
        workers.append(pid)
        return pid, fd

    monkeypatch.setattr(ifc_fork.Forker, "__init__", tracked_init)
    monkeypatch.setattr(ifc_fork.Forker, "start", tracked_start)
    return forkers, workers


def _gone(forkers: list[int], workers: list[int]) -> None:
    """The forkers were reaped (by us) and their workers (by them)."""
    assert forkers and workers
    for pid in forkers:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_workers_use_the_parsed_model_not_the_file(tmp_path, monkeypatch):
    """The file is parsed once: moved away once the import has parsed it,
    every element still gets its mesh (a worker that opened the file again
    would find none), and no process is left behind."""
    src = tmp_path / "fzk.ifc"
    src.write_bytes((IFC / "AC20-FZK-Haus.ifc").read_bytes())
    real = ifc_mod.open_model

    def open_then_move(path, report):
        got = real(path, report)
        os.replace(path, tmp_path / "moved.ifc")
        return got

    monkeypatch.setattr(ifc_mod, "open_model", open_then_move)
    forkers, workers = _track_processes(monkeypatch)
    with twin.create_twin(tmp_path / "t.gpkg", "EPSG:25832") as store:
        res = import_file(store, src)
    geo = res.report["source"]["geometry"]
    assert not src.exists()
    assert geo["converted"] == geo["requested"] > 80 and geo["failed"] == 0
    assert len(forkers) == len(workers) == 1
    _gone(forkers, workers)


def test_an_import_that_fails_midway_ends_its_worker_and_forker(tmp_path, monkeypatch):
    """An error while the kernels still deliver ends the import, the worker
    and the forker (none is left running or unreaped), and the twin stays
    as it was."""
    forkers, workers = _track_processes(monkeypatch)
    real = ifc_mod._element_feature
    made = [0]

    def fail_on_the_fifth(*args, **kwargs):
        made[0] += 1
        if made[0] == 5:
            raise RuntimeError("a bug in the converter")
        return real(*args, **kwargs)

    monkeypatch.setattr(ifc_mod, "_element_feature", fail_on_the_fifth)
    with twin.create_twin(tmp_path / "t.gpkg", "EPSG:25832") as store:
        with pytest.raises(Exception, match="a bug in the converter"):
            import_file(store, IFC / "AC20-FZK-Haus.ifc", options={"chunk_vertices": 1})
        assert store.info().feature_count == 0
    _gone(forkers, workers)


def _features(store) -> dict:
    out = {}
    for f in store.query(twin.Query(with_meshes=True)):
        meshes = {lod: (m.vertices.tobytes(), m.faces.tobytes()) for lod, m in f.meshes.items()}
        out[f.id] = (f.layer, f.type, f.name, f.parent, dict(f.attributes),
                     f.footprint.wkb if f.footprint is not None else None, meshes)
    return out


def test_spawned_workers_give_the_same_twin_and_end(tmp_path, monkeypatch):
    """workers="spawn" (what the API server's import jobs ask: their process
    runs other threads, and must not fork): a fresh interpreter parses the
    file and forks the workers; the twin is the same as from forked workers,
    the report says so, and no process is left behind."""
    src = IFC / "AC20-FZK-Haus.ifc"
    with twin.create_twin(tmp_path / "fork.gpkg", "EPSG:25832") as store:
        forked = import_file(store, src)
        expected = _features(store)
    forkers, workers = _track_processes(monkeypatch)
    with twin.create_twin(tmp_path / "spawn.gpkg", "EPSG:25832") as store:
        spawned = import_file(store, src, options={"workers": "spawn"})
        assert _features(store) == expected
    assert "workers" not in forked.report["source"]["geometry"]
    assert spawned.report["source"]["geometry"]["workers"].startswith("spawned")
    assert len(forkers) == len(workers) == 1
    _gone(forkers, workers)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parents_containers_hosts_and_units_are_ifcopenshells(name):
    import ifcopenshell.util.unit as uu

    model, _ = open_model(MODELS[name][0], {})
    assert length_unit_scale(model) == uu.calculate_unit_scale(model)
    products = model.by_type("IfcProduct")
    assert len(products) > 20
    kinds = set()
    for e in products:
        assert tree_parent(e) == ue.get_parent(e), e
        assert container_of(e) == ue.get_container(e), e
        assert nest_of(e) == ue.get_nest(e), e
        parent = tree_parent(e)
        if parent is not None:
            kinds.add(parent.is_a())
    assert kinds  # the models do have hierarchies


@pytest.mark.parametrize("schema", ["IFC2X3", "IFC4", "IFC4X3"])
def test_no_schema_derives_an_attribute_the_converter_reads_without_its_rule(schema):
    import importlib

    rules = importlib.import_module(f"ifcopenshell.express.rules.{schema}")
    derived = {n.rsplit("_", 1)[1] for n in dir(rules) if n.startswith("calc_")}
    assert derived  # the rules name derived attributes calc_<Entity>_<Attribute>
    assert not derived & NEVER_DERIVED


def test_an_import_loads_neither_the_schema_rules_nor_numpy_ma(tmp_path):
    """Each costs 20-30 ms of CPU once per process: a sixth of a small
    CityJSON file's import (numpy.ma comes with np.unique and np.percentile;
    the rules with a getattr of an attribute a class lacks)."""
    code = f"""
import sys
import twin
from converters import import_file
with twin.create_twin({str(tmp_path / "c.gpkg")!r}, "EPSG:7415") as store:
    import_file(store, {str(IFC.parent / "cityjson" / "cjio_delft.json")!r})
    assert store.count(twin.Query()) == 570
for name, crs in (("AC20-FZK-Haus.ifc", "EPSG:25832"), ("duplex.ifc", "EPSG:26916")):
    with twin.create_twin({str(tmp_path)!r} + "/" + name + ".gpkg", crs) as store:
        import_file(store, {str(IFC)!r} + "/" + name)  # IFC4, IFC2X3
        assert store.count(twin.Query()) > 50
print(sorted(m for m in sys.modules if m.split(".")[:2] == ["numpy", "ma"]
             or m.startswith("ifcopenshell.express")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=IFC.parents[1], check=True).stdout
    assert out.strip() == "[]"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.one_of(st.sampled_from([0.0, 50.0, 70.0, 100.0]), st.floats(0, 100)))
def test_the_roof_percentile_is_numpys(values, q):
    import numpy as np

    from converters.ifc_building import percentile

    assert percentile(np.array(values), q) == float(np.percentile(np.array(values), q))

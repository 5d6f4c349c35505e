"""IFC import speed work: the geometry workers are forked from the model the
import parsed, and the fast entity access gives what ifcopenshell's own
utilities give, on real models (IFC4, IFC2X3, IFC4 infrastructure)."""

from __future__ import annotations

import os
from pathlib import Path

import ifcopenshell.util.element as ue
import pytest
from pyproj import CRS

import converters.ifc as ifc_mod
import twin
from converters import ifc_fork, import_file
from converters.base import ConversionContext
from converters.ifc_georef import read_georef
from converters.ifc_model import Model
from converters.ifc_open import open_model
from converters.ifc_semantics import (
    aggregate_of,
    attribute,
    is_any,
    materials_of,
    type_of,
)

IFC = Path(__file__).resolve().parents[2] / "sample_models" / "ifc"
MODELS = {"FZK": (IFC / "AC20-FZK-Haus.ifc", "EPSG:25832"),
          "duplex": (IFC / "duplex.ifc", "EPSG:26916"),
          "drainage": (IFC / "infra_DrainageSystem-2.IFC", "EPSG:3878")}
#: attributes some classes have and others lack (forward, inverse, derived)
NAMES = ("Name", "LongName", "PredefinedType", "ObjectType", "Tag", "Elevation",
         "IsDefinedBy", "IsTypedBy", "Decomposes", "ContainedInStructure",
         "HasAssociations", "NoSuchAttribute", "Dim")


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

"""The one exception hierarchy: every deliberate error is a TwinError subclass
that is also the matching built-in, exported from ``twin``; the API maps each
class to an HTTP status once, and a class it does not know is a 500."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import twin
import twin.errors as errors
from twin_api.problems import from_twin_error

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "converters", "viewer", "twin_api", "twin_cli")

#: The status each class must become, written out here on purpose: adding an
#: error class without deciding its status fails test_every_class_has_a_status.
EXPECTED_STATUS = {
    "CRSError": 400, "LayerError": 400, "FeatureError": 400, "GeometryError": 400,
    "QueryError": 400, "OptionError": 400, "AnalysisError": 400,
    "HierarchyError": 409,
    "NotFoundError": 404,
    "ConversionError": 422, "ImportFailedError": 422, "ExportError": 422,
    "StoreError": 503, "NotATwinError": 503, "SchemaVersionError": 503,
    "ConfigError": 500,
    "MissingExtraError": 501,
}


def _classes() -> list[type[errors.TwinError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.TwinError) and c is not errors.TwinError]


def test_every_error_is_also_a_builtin_and_exported():
    for cls in _classes():
        builtins = [b for b in cls.__mro__ if b.__module__ == "builtins"
                    and b not in (Exception, BaseException, object)]
        assert builtins, f"{cls.__name__} subclasses no built-in exception besides Exception"
        assert getattr(twin, cls.__name__) is cls and cls.__name__ in twin.__all__


def test_every_class_has_a_status():
    assert {c.__name__ for c in _classes()} == set(EXPECTED_STATUS)


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_each_error_class_maps_to_its_http_status(name):
    exc = getattr(errors, name)("feature 'x': something is wrong")
    problem = from_twin_error(exc)
    assert problem.status == EXPECTED_STATUS[name]
    assert "feature 'x': something is wrong" in problem.detail


def test_an_error_class_the_api_does_not_know_is_a_server_error():
    class Forgotten(errors.TwinError, ValueError):
        pass

    problem = from_twin_error(Forgotten("a message"))
    assert problem.status == 500 and "Forgotten" in problem.detail


def test_a_conversion_error_names_the_file_but_not_the_server_folder():
    exc = errors.ConversionError("/srv/uploads/job-17/pipes.geojson: feature 3 has no "
                                 "geometry", source="/srv/uploads/job-17/pipes.geojson")
    problem = from_twin_error(exc)
    assert problem.status == 422 and problem.extra["source"] == "pipes.geojson"
    assert problem.detail == "pipes.geojson: feature 3 has no geometry"
    assert "/srv" not in str(problem.body())


def test_the_twin_path_is_hidden_from_clients():
    exc = errors.StoreError("/srv/twins/city.gpkg is open read-only")
    assert from_twin_error(exc, hide="/srv/twins/city.gpkg").detail == \
        "the twin is open read-only"


def test_no_bare_twin_error_is_raised_anywhere():
    """Raise a subclass (what kind of error, which built-in), never TwinError itself."""
    bare = []
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    fn = node.exc.func
                    name = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", None)
                    if name == "TwinError":
                        bare.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bare, bare


def test_a_parent_cycle_is_a_hierarchy_error_naming_the_feature(empty_twin):
    from twin.hierarchy import ancestors

    with empty_twin.import_batch("cycle", "test", "tests", "1") as b:
        b.add([twin.Feature(id="a", layer="buildings", type="Building", parent="b"),
               twin.Feature(id="b", layer="buildings", type="Building", parent="a")])
    with pytest.raises(errors.HierarchyError, match="'a'.*loops") as info:
        ancestors(empty_twin, "a")
    assert isinstance(info.value, ValueError) and info.value.feature_id == "a"


def test_an_unknown_conflict_option_is_an_option_error(empty_twin):
    with pytest.raises(errors.OptionError, match="'merge'.*'error', 'replace' or 'update'"):
        with empty_twin.import_batch("x", "test", "tests", "1", on_conflict="merge"):
            pass


def test_errors_reach_http_clients_with_their_status(city):
    from fastapi.testclient import TestClient

    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    with TestClient(create_app(ApiSettings(city.path))) as api:
        r = api.get("/twin/analyses/isolation/test:B1")  # an AnalysisError
        assert r.status_code == 400 and "not a network segment" in r.json()["detail"]
        r = api.get("/twin/features/test:nothing")  # a NotFoundError
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def _features_then(exc_factory):
    """One valid feature, then whatever ``exc_factory`` raises (as a converter would)."""
    from builders import building

    yield building(7, 559500.0, 4520900.0, 3)
    exc_factory()


def _bug():
    attrs = {"material": None}
    return attrs["material"].strip()  # a bug of ours: AttributeError on None


@pytest.mark.parametrize("exc_factory, expected", [
    (_bug, AttributeError),
    (lambda: [][1], IndexError),
], ids=["attribute-error", "index-error"])
def test_a_bug_during_an_import_propagates_unchanged_and_changes_nothing(city, exc_factory,
                                                                        expected):
    from builders import dump_twin

    before = dump_twin(city.path)
    with pytest.raises(expected) as info:
        with city.import_batch("bug.geojson", "test", "tests", "1") as b:
            b.add(_features_then(exc_factory))
    assert not isinstance(info.value, errors.TwinError)  # never 'import failed', a user error
    assert dump_twin(city.path) == before


def _conversion_error():
    raise errors.ConversionError("bad.geojson: feature 2: no geometry", source="bad.geojson")


def _disk_error():
    raise OSError(28, "No space left on device")


def _database_error():
    import sqlite3

    raise sqlite3.OperationalError("database is locked")


@pytest.mark.parametrize("exc_factory", [_conversion_error, _disk_error, _database_error],
                         ids=["bad-file", "disk", "database"])
def test_bad_files_and_io_errors_become_import_failed_and_change_nothing(city, exc_factory):
    from builders import dump_twin

    before = dump_twin(city.path)
    with pytest.raises(errors.ImportFailedError, match="bad.geojson failed and was rolled "
                       "back") as info:
        with city.import_batch("bad.geojson", "test", "tests", "1") as b:
            b.add(_features_then(exc_factory))
    assert info.value.source == "bad.geojson" and info.value.__cause__ is not None
    assert dump_twin(city.path) == before

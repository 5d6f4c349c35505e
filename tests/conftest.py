"""Shared fixtures: tiny canonical twins and the demo district, on each store backend.

The store, query, analysis and API tests run on both backends: the
GeoPackage file and PostgreSQL/PostGIS (marked ``postgres``; CI runs them,
they are never skipped). A PostGIS run needs a server: the one named by
``TWIN_TEST_PG``, or else a throwaway cluster this session starts in a
temporary folder (``tests/pgcluster.py``); without either, those tests fail
with a message saying what to install. Other tests run on the GeoPackage
only; a test restricts itself with ``@pytest.mark.backends("gpkg")``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import demo_sources, small_city

import twin

# off-screen VTK without a display: straight to EGL (VTK would try X11 first and warn)
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

#: ``postgis_part``: the server's partitioned layout (4 hash partitions by tile)
BACKENDS = ("gpkg", "postgis", "postgis_part")
_TESTS = Path(__file__).parent
#: the suites that run on both backends (and, for the store's own, both layouts)
_ALL_BACKENDS = {
    _TESTS / "twin" / "test_store.py": BACKENDS,
    _TESTS / "twin" / "analysis": ("gpkg", "postgis"),
    _TESTS / "twin" / "test_indicators.py": ("gpkg", "postgis"),
    _TESTS / "twin" / "test_jobs.py": ("gpkg", "postgis"),
    _TESTS / "api": ("gpkg", "postgis"),
}


def _backends_of(path: Path) -> tuple[str, ...]:
    for p, names in _ALL_BACKENDS.items():
        if path == p or p in path.parents:
            return names
    return ("gpkg",)


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker is not None else _backends_of(Path(metafunc.definition.path))
    metafunc.parametrize(
        "backend", [pytest.param(n, id=n, marks=(pytest.mark.postgres,) if n != "gpkg"
                                 else ()) for n in names],
        indirect=True, scope="session")


def pytest_collection_modifyitems(items):
    for item in items:  # every test that needs the server says so
        if "pg_database" in getattr(item, "fixturenames", ()) and \
                item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def backend(request):
    """The store backend of a test: ``gpkg``, ``postgis`` or ``postgis_part``."""
    return getattr(request, "param", "gpkg")


@pytest.fixture(scope="session")
def pg_database():
    """The URL of a PostGIS database for this session's twins."""
    url = os.environ.get("TWIN_TEST_PG")
    if url:
        yield url
        return
    from pgcluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster.create_database("twintest")
    finally:
        cluster.stop()


@pytest.fixture
def twin_location(backend, tmp_path, request):
    """Where a test's twin lives: a file in ``tmp_path``, or a schema of its
    own in the session's PostGIS database (dropped afterwards)."""
    if backend == "gpkg":
        yield str(tmp_path / "city.gpkg")
        return
    from pgcluster import drop_schema, new_schema_name, with_params

    base = request.getfixturevalue("pg_database")
    schema = new_schema_name()
    if backend == "postgis_part":
        yield with_params(base, schema=schema, partitions="4")
    else:
        yield with_params(base, schema=schema)
    drop_schema(base, schema)


@pytest.fixture
def empty_twin(twin_location):
    store = twin.create_twin(twin_location, "EPSG:4546",
                             vertical_datum="1985 National Height Datum")
    yield store
    store.close()


@pytest.fixture
def city(empty_twin):
    with empty_twin.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    return empty_twin


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory):
    """The Hohhot demo district imported from sample_models/ into a GeoPackage."""
    from converters import import_file

    path = tmp_path_factory.mktemp("demo") / "demo.gpkg"
    store = twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum")
    for f in demo_sources():
        import_file(store, f, options={"id_prefix": "hohhot"})
    store.close()
    return path


@pytest.fixture(scope="session")
def demo_twin(backend, demo_gpkg, request):
    """The demo district (read-only use): the GeoPackage, or its copy in
    PostGIS (made with :func:`twin.store.copy.copy_twin`)."""
    if backend == "gpkg":
        return demo_gpkg
    from pgcluster import with_params

    from twin.store.copy import copy_twin

    url = with_params(request.getfixturevalue("pg_database"), schema="demo")
    with twin.open_twin(demo_gpkg, readonly=True) as src:
        copy_twin(src, url, overwrite=True).close()
    return url

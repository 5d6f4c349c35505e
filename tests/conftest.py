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
import shutil
from pathlib import Path

import pytest
from builders import demo_sources, small_city
from sharing import once_per_run, worker_suffix

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:  # every test that needs the server says so
        if "pg_database" in getattr(item, "fixturenames", ()) and \
                item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist") == "loadgroup":
        for item in items:
            _group_by_module_fixtures(item)


def _group_by_module_fixtures(item) -> None:
    """Under ``--dist loadgroup`` (``make test`` uses ``worksteal``), the tests of a module that
    share a module-scoped fixture (a browser, a served twin, a converted IFC
    model) run on one worker, which sets it up once; other tests go to
    whichever worker is free."""
    defs = getattr(item, "_fixtureinfo", None)
    if defs is None:  # doctests
        return
    if any(d[-1].scope in ("module", "class") for d in defs.name2fixturedefs.values() if d):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def backend(request):
    """The store backend of a test: ``gpkg``, ``postgis`` or ``postgis_part``."""
    return getattr(request, "param", "gpkg")


@pytest.fixture(scope="session")
def pg_cluster():
    """Where this session makes its PostgreSQL databases: a throwaway cluster
    it starts, or the server ``TWIN_TEST_PG`` names where its role is a
    superuser (databases tagged with this run, dropped at the end); None where
    that role may not (then no database is made, only schemas)."""
    url = os.environ.get("TWIN_TEST_PG")
    if url:
        from pgcluster import Server

        server = Server(url)
        if not server.is_superuser():
            yield None
            return
        try:
            yield server
        finally:
            server.stop()
        return
    from pgcluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_database(pg_cluster):
    """The URL of a PostGIS database for this session's twins."""
    if pg_cluster is None:
        return os.environ["TWIN_TEST_PG"]
    return pg_cluster.create_database(pg_cluster.name("twintest" + worker_suffix()))


#: what a test's twin starts as, by the fixtures it uses (see ``twin_location``)
_SEEDS = {"city": "city", "empty_twin": "empty"}


def _seed_of(request) -> str | None:
    names = request.fixturenames
    return next((seed for name, seed in _SEEDS.items() if name in names), None)


def _build_seed(location, seed: str | None) -> twin.TwinStore:
    """The starting twin ``seed`` built at ``location``, open."""
    store = twin.create_twin(location, "EPSG:4546", vertical_datum="1985 National Height Datum")
    if seed == "city":
        with store.import_batch("small_city", "test", "tests", "1") as b:
            b.add(small_city())
    return store


@pytest.fixture(scope="session")
def twin_seeds(backend, tmp_path_factory, request):
    """The starting twins of ``empty_twin`` and ``city`` (empty; the small city
    imported), each built once per session and backend, copied per test: a
    GeoPackage's files, or a PostgreSQL database as a ``TEMPLATE``. Returns
    ``place(seed, location)``, which puts a copy at ``location`` (from
    ``twin_location``), or None where the tests may not make databases (a
    ``TWIN_TEST_PG`` role that is no superuser: each test builds its twin)."""
    if backend == "gpkg":
        folder = tmp_path_factory.mktemp("seeds")
        built = {}
        for seed in ("empty", "city"):
            _build_seed(folder / f"{seed}.gpkg", seed).close()
            built[seed] = sorted(folder.glob(f"{seed}.gpkg*"))

        def place(seed, location):
            for f in built[seed]:
                shutil.copyfile(f, location + f.name[len(seed) + len(".gpkg"):])
        return place
    cluster = request.getfixturevalue("pg_cluster")
    if cluster is None:
        return None
    from pgcluster import with_params

    templates = {}
    for seed in ("empty", "city"):
        name = cluster.name(f"seed_{backend}_{seed}{worker_suffix()}")
        url = with_params(cluster.create_database(name), schema="twin",
                          **({"partitions": "4"} if backend == "postgis_part" else {}))
        _build_seed(url, seed).close()  # nobody may be connected to a template
        templates[seed] = name

    def place(seed, location):
        import psycopg

        from twin.store.location import parse_server

        loc = parse_server(location)
        database = location.split("?", 1)[0].rsplit("/", 1)[1]
        cluster.clone_database(templates[seed], database)
        with psycopg.connect(cluster.url(database), autocommit=True) as conn:
            # what a twin built there would name differently: its schema, and its
            # database in the QGIS styles' catalogue
            conn.execute(f'ALTER SCHEMA twin RENAME TO "{loc.schema}"')
            conn.execute(f'UPDATE "{loc.schema}".layer_styles SET f_table_catalog = '
                         "current_database(), f_table_schema = %s", (loc.schema,))
    return place


@pytest.fixture
def twin_location(backend, tmp_path, request):
    """Where a test's twin lives: a file in ``tmp_path``, or a schema of its
    own in the session's PostGIS database (dropped afterwards).

    A test that uses ``empty_twin`` or ``city`` finds its starting twin there
    already, copied from ``twin_seeds``; on PostgreSQL that is a database of
    its own (dropped afterwards)."""
    seed = _seed_of(request)
    place = request.getfixturevalue("twin_seeds") if seed else None
    if backend == "gpkg":
        path = str(tmp_path / "city.gpkg")
        if place is not None:
            place(seed, path)
        yield path
        return
    from pgcluster import drop_schema, new_schema_name, with_params

    params = {"partitions": "4"} if backend == "postgis_part" else {}
    if place is not None:
        cluster = request.getfixturevalue("pg_cluster")
        database = new_schema_name()
        location = with_params(cluster.url(database), schema=new_schema_name(), **params)
        place(seed, location)
        yield location
        cluster.drop_database(database)
        return
    base = request.getfixturevalue("pg_database")
    schema = new_schema_name()
    yield with_params(base, schema=schema, **params)
    drop_schema(base, schema)


@pytest.fixture
def empty_twin(twin_location, request):
    """A new, empty twin (EPSG:4546); with ``city``, the small city's twin."""
    if request.getfixturevalue("twin_seeds") is None:  # built here, not copied
        store = _build_seed(twin_location, _seed_of(request))
    else:
        store = twin.open_twin(twin_location)
    yield store
    store.close()


@pytest.fixture
def city(empty_twin):
    """The small hand-checked city (``builders.small_city``), imported as batch 1."""
    return empty_twin


@pytest.fixture(scope="session")
def demo_gpkg(tmp_path_factory):
    """The Hohhot demo district imported from sample_models/ into a GeoPackage."""
    from converters import import_file

    def build(folder: Path) -> None:
        store = twin.create_twin(folder / "demo.gpkg", "EPSG:4546",
                                 vertical_datum="1985 National Height Datum")
        for f in demo_sources():
            import_file(store, f, options={"id_prefix": "hohhot"})
        store.close()

    # built once per run: under pytest-xdist the workers share it
    return once_per_run(tmp_path_factory, "demo", build) / "demo.gpkg"


@pytest.fixture(scope="session")
def demo_twin(backend, demo_gpkg, request):
    """The demo district (read-only use): the GeoPackage, or its copy in
    PostGIS (made with :func:`twin.store.copy.copy_twin`)."""
    if backend == "gpkg":
        return demo_gpkg
    from pgcluster import with_params

    from twin.store.copy import copy_twin

    url = with_params(request.getfixturevalue("pg_database"), schema="demo" + worker_suffix())
    with twin.open_twin(demo_gpkg, readonly=True) as src:
        copy_twin(src, url, overwrite=True).close()
    return url

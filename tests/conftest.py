"""Shared fixtures: tiny canonical twins and the demo district."""

from __future__ import annotations

import os

import pytest
from builders import demo_sources, small_city

import twin

# off-screen VTK without a display: straight to EGL (VTK would try X11 first and warn)
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@pytest.fixture
def empty_twin(tmp_path):
    store = twin.create_twin(tmp_path / "city.gpkg", "EPSG:4546",
                             vertical_datum="1985 National Height Datum")
    yield store
    store.close()


@pytest.fixture
def city(empty_twin):
    with empty_twin.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    return empty_twin


@pytest.fixture(scope="session")
def demo_twin(tmp_path_factory):
    """The Hohhot demo district imported from sample_models/ (read-only use)."""
    from converters import import_file

    path = tmp_path_factory.mktemp("demo") / "demo.gpkg"
    store = twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum")
    for f in demo_sources():
        import_file(store, f, options={"id_prefix": "hohhot"})
    store.close()
    return path

"""Optional parts of the toolkit and the libraries they need.

``pip install digital-twin-city`` gives the core: the twin, its queries and
analyses, GeoJSON and CityJSON, the CLI. The heavier libraries come with
extras, so that querying a twin does not install VTK or an IFC kernel:

>>> EXTRAS["ifcopenshell"]
'ifc'
>>> print(install_hint("ifcopenshell"))
pip install 'digital-twin-city[ifc]'

:func:`require` imports a library of an extra or raises
:class:`~twin.errors.MissingExtraError` saying which extra to install;
:func:`missing_extra` turns a ``ModuleNotFoundError`` raised deep inside a
lazy import into the same error (the CLI and the API use it).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingExtraError

#: Top-level module -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "ifcopenshell": "ifc",
    "wntr": "pipes",
    "swmm": "pipes",
    "pyogrio": "pipes",
    "rasterio": "raster",
    "pyvista": "viewer",
    "vtk": "viewer",
    "matplotlib": "viewer",
    "pygltflib": "viewer",
    "fastapi": "api",
    "uvicorn": "api",
    "starlette": "api",
    "multipart": "api",
    "python_multipart": "api",
    "psycopg": "postgis",
    "pygeofilter": "api",
    "cql2": "api",
    "httpx2": "api",
    "playwright": "viewer",
    "pyarrow": "sensors",
}

PACKAGE = "digital-twin-city"


def install_hint(module: str) -> str:
    """The command that installs the extra bringing ``module``."""
    return f"pip install '{PACKAGE}[{EXTRAS[module.split('.')[0]]}]'"


def available(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require(module: str, what: str) -> ModuleType:
    """``module``, imported; ``what`` (for example ``IFC import``) names the work
    that needs it in the error raised when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        err = missing_extra(exc, what)
        if err is None:
            raise
        raise err from exc


def missing_extra(exc: ModuleNotFoundError, what: str = "this command") -> MissingExtraError | None:
    """The :class:`MissingExtraError` that ``exc`` means, when the missing
    module belongs to an extra; ``None`` for any other module (a bug or a
    broken installation, not a choice of extras)."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    return MissingExtraError(
        f"{what} needs {top}, which this installation does not have: "
        f"{install_hint(top)} (or '{PACKAGE}[all]' for every part)")

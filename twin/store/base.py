"""The store interface: what converters, analyses and the API may rely on.

The embedded default is :class:`twin.store.gpkg.GeoPackageStore` (one file,
no server); :class:`twin.store.postgis.PostGISStore` keeps a twin in a
PostgreSQL/PostGIS database shared by many clients. Both implement this
interface; no caller needs to know which one it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from pyproj import CRS

from ..layers import Layer
from ..model import Feature, ImportBatch, Mesh
from ..query import Query
from .jobs import JobBoard


@dataclass(frozen=True)
class TwinInfo:
    """Summary of a twin."""

    path: str
    crs: CRS
    vertical_datum: str
    origin: tuple[float, float, float] | None
    schema_version: int
    toolkit_version: str
    feature_count: int
    features_by_layer: dict[str, int]
    bounds: tuple[float, float, float, float, float, float] | None
    batch_count: int
    mesh_count: int
    triangle_count: int
    edge_count: int
    extra: dict[str, Any] = field(default_factory=dict)


class BatchWriter(ABC):
    """Collects the features of one import inside one transaction."""

    id: int
    report: dict[str, Any]

    @abstractmethod
    def add(self, features: Iterable[Feature]) -> int:
        """Insert features; returns how many were inserted by this call."""

    @abstractmethod
    def skip(self, source_id: str, reason: str) -> None:
        """Record a source element that was not imported, and why."""

    def retire(self, feature_ids: Iterable[str]) -> list[str]:
        """End the current versions of ``feature_ids`` in this import (an
        update, ``on_conflict="update"``): each moves to the history, retired
        by this batch, with no successor, as ``retire_missing`` would retire
        it. Returns the ids the twin did not hold (nothing happened to them)."""
        raise NotImplementedError(f"{type(self).__name__} cannot retire features")


class TwinStore(ABC):
    """A twin: layers, features, meshes, topology and import batches."""

    path: str

    # -- metadata -------------------------------------------------------
    @property
    @abstractmethod
    def crs(self) -> CRS: ...

    @property
    @abstractmethod
    def origin(self) -> tuple[float, float, float] | None: ...

    @property
    @abstractmethod
    def vertical_datum(self) -> str:
        """The name of the height datum (``"unspecified"`` when not known)."""

    @abstractmethod
    def info(self) -> TwinInfo: ...

    @abstractmethod
    def at(self, as_of: int | None) -> TwinStore:
        """This twin as it was right after import batch ``as_of`` committed: a
        read-only view (``None``: this store itself)."""

    @abstractmethod
    def revision(self) -> int:
        """A number that grows with every committed change of the twin (an
        import, a removed batch, an attribute or layer edit): results computed
        from the twin can be cached under it. Cheap to call."""

    @abstractmethod
    def layers(self) -> list[Layer]: ...

    @abstractmethod
    def layer(self, name: str) -> Layer: ...

    @abstractmethod
    def add_layer(self, layer: Layer) -> None: ...

    @abstractmethod
    def layer_extents(self) -> dict[str, tuple[float, float, float, float]]:
        """``layer -> (xmin, ymin, xmax, ymax)`` in the twin CRS, for the layers
        that hold features (kept up to date by every import; cheap to call)."""

    # -- writing --------------------------------------------------------
    @abstractmethod
    def import_batch(
        self, source: str, format: str, converter: str, converter_version: str,
        *, on_conflict: str = "error", retire_missing: str | None = None,
    ) -> AbstractContextManager[BatchWriter]:
        """A transaction for one import: all of it lands, or none of it.
        ``on_conflict``: ``"error"``, ``"replace"`` or ``"update"`` (versions,
        :mod:`twin.store.versions`; ``retire_missing`` ``"layers"`` or
        ``"extent"`` retires what the delivery no longer holds)."""

    @abstractmethod
    def batches(self) -> list[ImportBatch]: ...

    @abstractmethod
    def remove_batch(self, batch_id: int) -> int:
        """Delete every feature of a batch; returns how many were removed."""

    # -- reading --------------------------------------------------------
    @abstractmethod
    def get(self, feature_id: str, *, meshes: bool = True) -> Feature: ...

    @abstractmethod
    def update_attributes(self, feature_id: str, values: dict[str, Any]) -> Feature:
        """Set attributes of one feature in place (``None`` removes one)."""

    @abstractmethod
    def query(self, query: Query) -> Iterator[Feature]: ...

    @abstractmethod
    def count(self, query: Query) -> int: ...

    @abstractmethod
    def nearest(self, x: float, y: float, n: int = 1, *, layers: Iterable[str] = (),
                max_distance: float | None = None) -> list[tuple[Feature, float]]: ...

    @abstractmethod
    def meshes(self, feature_id: str) -> dict[str, Mesh]: ...

    @abstractmethod
    def edges(self, network: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        """``(feature_id, network, start, end)`` of every network edge."""

    @abstractmethod
    def job_board(self) -> JobBoard:
        """The board of import jobs kept with this twin, shared by every
        process serving it (see :mod:`twin.store.jobs`); the caller closes it."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

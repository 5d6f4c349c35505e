"""Time on the API: which feature versions a request asks for.

* ``/twin/...?as_of=DATE|BATCH``: the twin as it was then
  (:func:`twin.store.resolve_as_of`): the versions valid at that moment.
* OGC API - Features ``/items?datetime=``: an instant (``2025-06-30``,
  ``2025-06-30T12:00:00Z``) or an interval (``2024-01-01/2025-06-30``,
  ``../2025-06-30``, ``2024-01-01/..``), the OGC way: the features whose
  validity (from the import that wrote a version until the one that ended
  it) intersects it. An interval may hold several versions of one feature.

A batch number is the moment right after that import committed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query as Q

from twin.query import INT64_MAX
from twin.store import resolve_as_of
from twin.store.base import TwinStore

AS_OF_HELP = ("the twin as it was: after this import batch, or at the end of this date "
              "(2025-06-30) or at this time (UTC)")


def store_dependency(state: Any):
    """The FastAPI dependency of the ``/twin`` routers: the served twin, or
    its view as of the request's ``as_of``."""
    def store(as_of: Annotated[str | None, Q(max_length=40, description=AS_OF_HELP)] = None
              ) -> TwinStore:
        return dated_store(state.get_store(), as_of)

    return store


def dated_store(store: TwinStore, as_of: str | None) -> TwinStore:
    """The store, or its read-only view as of ``as_of`` (a clear 400 when the
    value is neither a batch nor a date)."""
    if as_of is None:
        return store
    return store.at(resolve_as_of(store, as_of))


def datetime_range(store: TwinStore, text: str | None) -> dict[str, Any]:
    """The :class:`~twin.query.Query` fields of an OGC ``datetime`` value:
    ``{}`` (now, also for ``..`` and ``../..``), ``{"as_of": B}`` for an
    instant, ``{"as_of": B2, "as_of_from": B1}`` for an interval."""
    if text is None:
        return {}
    t = text.strip()
    if "/" not in t:
        return {} if t == ".." else {"as_of": resolve_as_of(store, t)}
    start, _, end = t.partition("/")
    if start in ("", "..") and end in ("", ".."):
        return {"as_of": INT64_MAX, "as_of_from": 0}  # every version there ever was
    b2 = INT64_MAX if end in ("", "..") else resolve_as_of(store, end)
    b1 = 0 if start in ("", "..") else resolve_as_of(store, start)
    return {"as_of": b2, "as_of_from": b1}

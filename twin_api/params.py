"""Query parameters several routers share."""

# no "from __future__ import annotations": FastAPI reads these annotations

from typing import Annotated

from fastapi import Query as Q
from fastapi import Request
from fastapi.routing import APIRoute

from . import twin_service as svc
from .problems import bad_request

#: Most values a repeatable parameter (``layers``, ``type``, ``where``) takes.
MAX_LIST = 100

Layers = Annotated[list[str] | None, Q(description="layer names (repeatable; an unknown "
                                       "layer is a 400)", max_length=MAX_LIST)]
Year = Annotated[int | None, Q(ge=svc.YEARS[0], le=svc.YEARS[1], description="reference year")]


# -- unknown query parameters: one rule on every endpoint ----------------------

#: Routes whose reads take parameters beyond those they declare (``GET /items``:
#: property filters ``name=value``); they check their query strings themselves
#: (a ``POST`` there, OGC API - Features - Part 4, follows the common rule).
FREE_PARAMETERS = frozenset({"/collections/{collectionId}/items"})
#: Route prefixes whose query options are read by their own parser (the
#: SensorThings API's OData options, ``$filter`` ...: twin_api/sta_odata.py,
#: which refuses the unknown ones).
FREE_PREFIXES = ("/sta/",)

#: The attribute a route keeps its declared names in (on the route object
#: itself: a table keyed by ``id()`` lent a gone app's names to a new route
#: that reused its memory; routes cannot be weak keys, they are unhashable)
_DECLARED = "_twin_declared_query_parameters"


def declared_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` declares (its own and its
    dependencies'), by the names clients send (aliases)."""
    names = getattr(route, _DECLARED, None)
    if names is None:
        found: set[str] = set()
        todo = [route.dependant]
        while todo:
            dep = todo.pop()
            found.update(f.alias for f in dep.query_params)
            todo.extend(dep.dependencies)
        names = frozenset(found)
        setattr(route, _DECLARED, names)
    return names


async def refuse_unknown_parameters(request: Request) -> None:
    """An app-wide dependency: a query parameter the endpoint does not declare
    is a 400 naming it and the ones it takes (OGC API - Features asks this of
    ``/items``; the same rule holds on every endpoint, so a misspelt
    ``layer=`` for ``layers=`` is not silently ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.path.startswith(FREE_PREFIXES) \
            or (route.path in FREE_PARAMETERS and request.method in ("GET", "HEAD")):
        return
    allowed = declared_parameters(route)
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        takes = ", ".join(sorted(allowed)) if allowed else "none"
        raise bad_request(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} on {route.path_format}; "
                          f"it takes: {takes}")

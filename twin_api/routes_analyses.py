"""Analysis routes (pipe networks, renewal, ageing, statistics, clearances,
isolation with its hydraulic impact, hydraulics and pressure-logger checks,
highlights, the health-check indicators): HTTP in,
:mod:`twin_api.twin_service` out, every result kept per twin revision
(:meth:`ServerState.cached`): they take long and change only with the twin.
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the routes

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Query as Q
from fastapi.responses import Response

from twin.store.base import TwinStore

from . import twin_service as svc
from .params import Layers, Year
from .problems import responses
from .server_state import ServerState
from .temporal import store_dependency

Network = Annotated[str | None, Q(max_length=300, description=(
    "the network (default: the twin's one water network)"))]
SimTime = Annotated[int, Q(ge=0, le=7 * 86_400, description=(
    "seconds of simulated time after the start: 0 is the steady state"))]
ServicePressure = Annotated[float, Q(ge=0, le=200, description=(
    "minimum pressure (m of water) at a node, with hydraulics"))]
SkipUnsupplied = Annotated[bool, Q(description=(
    "leave the parts no source reaches out of the run and list them in `unsupplied`, "
    "instead of answering 400"))]


def analyses_router(state: ServerState) -> APIRouter:
    cached = state.cached

    store = store_dependency(state)

    Store = Annotated[TwinStore, Depends(store)]
    blocking = state.blocking
    r = APIRouter(responses=responses(400))  # every route takes as_of
    a: list[str | Enum] = ["Analyses"]

    @r.get("/twin/networks", tags=a, summary="The pipe networks with topology",
           response_model=dict)
    @blocking
    def network_list(s: Store) -> Response:
        return cached(s, ("networks",), lambda: svc.network_list(s))

    @r.get("/twin/networks/{network}/check", tags=a, summary="Topology check of a network",
           response_model=dict, responses=responses(404))
    @blocking
    def network_check(s: Store, network: str) -> Response:
        return cached(s, ("network_check", network), lambda: svc.network_check(s, network))

    @r.get("/twin/analyses/renewal", tags=a, summary="Pipes due for renewal, oldest first",
           response_model=dict, responses=responses(400))
    @blocking
    def renewal(s: Store, layers: Layers = None,
                min_age: Annotated[int, Q(ge=0, le=200)] = 20, year: Year = None) -> Response:
        ls = tuple(layers or ("heating",))
        y = svc.reference_year(year)
        return cached(s, ("renewal", ls, min_age, y), lambda: svc.renewal(s, ls, min_age, y))

    @r.get("/indicators", tags=a, summary="City health check (城市体检) indicators",
           response_model=dict, responses=responses(400))
    @blocking
    def indicators(s: Store, year: Year = None,
                   new_since: Annotated[int | None, Q(
                       ge=svc.YEARS[0], le=svc.YEARS[1],
                       description="first build year of new buildings (default year - 5)")]
                   = None,
                   county_town: bool = False, main_city: bool = False) -> Response:
        y = svc.reference_year(year)
        return cached(s, ("indicators", y, new_since, county_town, main_city),
                      lambda: svc.indicators(s, y, new_since, county_town, main_city))

    @r.get("/twin/analyses/ageing", tags=a, summary="Pipe length by age band",
           response_model=dict, responses=responses(400))
    @blocking
    def ageing(s: Store, layers: Layers = None, year: Year = None) -> Response:
        ls = tuple(layers or ())
        y = svc.reference_year(year)
        return cached(s, ("ageing", ls, y), lambda: svc.ageing(s, ls, y))

    @r.get("/twin/analyses/statistics", tags=a, summary="Network lengths by size, material",
           response_model=dict, responses=responses(400))
    @blocking
    def statistics(s: Store, year: Year = None) -> Response:
        y = svc.reference_year(year)
        return cached(s, ("statistics", y), lambda: svc.statistics(s, y))

    @r.get("/twin/analyses/clearances", tags=a, summary="GB 50289 clearance violations",
           response_model=dict, responses=responses(400))
    @blocking
    def clearances(s: Store, limit: Annotated[int, Q(ge=1, le=100_000)] = 1000) -> Response:
        return cached(s, ("clearances", limit), lambda: svc.clearances(s, limit))

    @r.get("/twin/analyses/isolation/{segment_id:path}", tags=a, response_model=dict,
           summary="Valves to close and what loses supply when a segment bursts",
           responses=responses(400, 404))
    @blocking
    def isolation(s: Store, segment_id: str,
                  hydraulics: Annotated[bool, Q(description=(
                      "also run EPANET (WNTR) with the out-of-service segments taken out: "
                      "nodes under the service pressure and the unsupplied demand, against "
                      "the intact network"))] = False,
                  service_pressure: ServicePressure = 14.0,
                  skip_unsupplied: SkipUnsupplied = False) -> Response:
        return cached(s, ("isolation", segment_id, hydraulics, service_pressure,
                          skip_unsupplied),
                      lambda: svc.isolation(s, segment_id, hydraulics, service_pressure,
                                            skip_unsupplied))

    @r.get("/twin/analyses/hydraulics", tags=a, response_model=dict,
           summary="EPANET run of a water network: node pressures and heads, link flows",
           description="The twin's water network built into a hydraulic model (defaults "
                       "for what the twin does not say are counted in `defaulted`) and "
                       "run with WNTR's EpanetSimulator: the steady state (`at=0`) or the "
                       "state `at` seconds into an extended period. Pressures in m of "
                       "water, flows in m3/s. A network without source, or with parts no "
                       "source reaches, is a 400 naming them.",
           responses=responses(400))
    @blocking
    def hydraulics(s: Store, network: Network = None, at: SimTime = 0,
                   skip_unsupplied: SkipUnsupplied = False) -> Response:
        return cached(s, ("hydraulics", network, at, skip_unsupplied),
                      lambda: svc.hydraulics(s, network, at, skip_unsupplied))

    @r.get("/twin/analyses/calibration", tags=a, response_model=dict,
           summary="Simulated against observed pressure at the pressure loggers",
           description="For every pressure datastream whose Thing is on a node of the "
                       "network: its last reading up to `time` (at most an hour old), the "
                       "mean of its readings from `from` to `to`, or its latest reading; "
                       "residual = simulated - observed (m of water), worst first, with "
                       "the RMSE and the mean residual. Loggers that cannot be compared "
                       "are listed in `skipped` with the reason.",
           responses=responses(400))
    @blocking
    def calibration(s: Store, network: Network = None,
                    time: Annotated[str | None, Q(max_length=64, description=(
                        "ISO 8601 time with its offset"))] = None,
                    start: Annotated[str | None, Q(alias="from", max_length=64,
                                                   description="interval start (ISO 8601)")
                                     ] = None,
                    end: Annotated[str | None, Q(alias="to", max_length=64,
                                                 description="interval end, excluded")] = None,
                    at: SimTime = 0, skip_unsupplied: SkipUnsupplied = False) -> Response:
        return cached(s, ("calibration", network, time, start, end, at, skip_unsupplied),
                      lambda: svc.calibration(s, network, time, start, end, at,
                                              skip_unsupplied))

    @r.get("/twin/analyses/highlight", tags=a, response_model=dict,
           summary="An analysis result as coloured feature sets, for viewers",
           responses=responses(400, 404))
    @blocking
    def highlight_sets(s: Store, analysis: Annotated[str, Q(
            max_length=300, description="renewal[:YEAR], clearance, isolation:SEGMENT_ID or "
                                        "changes:DATE|BATCH")],
            geometry: Annotated[bool, Q(description="add each group's 3D centrelines and "
                                        "points, relative to the twin's origin")] = False
    ) -> Response:
        return cached(s, ("highlight", analysis, geometry),
                      lambda: svc.highlight_sets(s, analysis, geometry))

    return r

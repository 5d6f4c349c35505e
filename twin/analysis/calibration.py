"""Simulated against observed pressures: is the hydraulic model right?

Every pressure logger of the twin is a SensorThings Datastream (observed
property named ``...pressure...``) whose Thing is linked to a node of the
network. :func:`calibration_check` simulates the network
(:func:`twin.analysis.hydraulics.simulate`) and sets beside each logger's
simulated pressure the observed one:

* at a time ``at``: the logger's last reading at or before it, no older than
  ``max_age_ms`` (an hour by default); a logger without one is skipped, and
  said so;
* over an interval ``start``-``end``: the mean of its readings there;
* with neither: its latest reading.

Readings are converted to metres of water (``kPa``, ``Pa``, ``MPa``,
``bar``, ``psi``, ``m``: the datastream's unit symbol; 1 m = 9.80665 kPa),
taken as gauge pressures at the node's elevation, like EPANET's. The
**residual** is simulated minus observed; the table is sorted worst first
and summed up as the RMSE and the mean residual (a bias: a source head or
elevations off by a constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from .hydraulic_model import HydraulicNetwork
from .hydraulics import simulate

G_KPA = 9.80665  # kPa per metre of water
#: unit symbol (lower case) -> metres of water per unit
PRESSURE_UNITS = {"kpa": 1 / G_KPA, "pa": 1 / (G_KPA * 1000), "mpa": 1000 / G_KPA,
                  "bar": 100 / G_KPA, "psi": 6.894757 / G_KPA, "m": 1.0, "mh2o": 1.0,
                  "m h2o": 1.0, "mwc": 1.0}
MAX_AGE_MS = 3_600_000


@dataclass(frozen=True)
class LoggerResidual:
    datastream: int
    name: str
    node: str
    readings: int
    observed_m: float
    simulated_m: float
    residual_m: float


@dataclass(frozen=True)
class CalibrationCheck:
    """Residuals (m, simulated - observed) of the pressure loggers, worst
    first; ``skipped``: ``(datastream, name, reason)`` of loggers left out."""

    network: str
    time_s: int
    at: int | None
    start: int | None
    end: int | None
    residuals: tuple[LoggerResidual, ...]
    skipped: tuple[tuple[int, str, str], ...]
    defaulted: dict[str, int]

    @property
    def rmse_m(self) -> float | None:
        r = np.array([x.residual_m for x in self.residuals])
        return float(np.sqrt(np.mean(r * r))) if len(r) else None

    @property
    def mean_residual_m(self) -> float | None:
        r = [x.residual_m for x in self.residuals]
        return float(np.mean(r)) if r else None

    def worst(self, n: int = 5) -> tuple[LoggerResidual, ...]:
        return self.residuals[:n]


def metres_per_unit(unit: dict | str | None) -> float | None:
    """Metres of water per unit of a datastream's unit (``None``: not a
    pressure unit we know)."""
    if isinstance(unit, dict):
        for key in ("symbol", "name"):
            f = metres_per_unit(unit.get(key))
            if f is not None:
                return f
        return None
    text = str(unit or "").strip().lower()
    names = {"kilopascal": "kpa", "pascal": "pa", "megapascal": "mpa", "metre": "m",
             "meter": "m"}
    return PRESSURE_UNITS.get(names.get(text, text))


def _observed(sensors, ds: int, at: int | None, start: int | None, end: int | None,
              max_age_ms: int, latest) -> tuple[float, int] | str:
    """(mean value, readings) or why there is none."""
    if start is not None or end is not None:
        s = sensors.observations(ds, start, end)
        v = s.values[np.isfinite(s.values)]
        return (float(v.mean()), int(len(v))) if len(v) else "no numeric reading in the interval"
    if at is not None:
        s = sensors.observations(ds, at - max_age_ms, at + 1)
        ok = np.flatnonzero(np.isfinite(s.values))
        if not len(ok):
            return f"no numeric reading in the {max_age_ms / 60000:g} minutes up to the time"
        return float(s.values[ok[-1]]), 1
    t, v = latest.get(ds, (None, None))
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v), 1
    return "no numeric latest reading"


def calibration_check(store, net: HydraulicNetwork, *, at: int | None = None,
                      start: int | None = None, end: int | None = None, sim_at_s: int = 0,
                      max_age_ms: int = MAX_AGE_MS, skip_unsupplied: bool = False
                      ) -> CalibrationCheck:
    """Residuals of the pressure loggers on ``net``'s nodes (times in ms
    since 1970 UTC; see the module's documentation)."""
    from ..sensors.store import sensors_of

    if at is not None and (start is not None or end is not None):
        raise OptionError("give a time (at) or an interval (start, end), not both")
    if start is not None and end is not None and end <= start:
        raise OptionError(f"the interval ends ({end}) before it starts ({start})")
    sensors = sensors_of(store)
    streams = sensors.datastreams_linked("pressure")
    latest = sensors.latest([d["id"] for d in streams]) if at is None and start is None \
        and end is None else {}
    result = simulate(net, sim_at_s, skip_unsupplied=skip_unsupplied)
    pressure = result.pressure()
    unsupplied = set(result.unsupplied)
    rows, skipped = [], []
    for d in streams:
        if d["feature_id"] in unsupplied:
            skipped.append((d["id"], d["name"], f"no source reaches node {d['feature_id']!r}: "
                            "it was left out of the run"))
            continue
        if d["feature_id"] not in pressure:
            skipped.append((d["id"], d["name"], f"feature {d['feature_id']!r} is not a node "
                            f"of network {net.network!r}"))
            continue
        factor = metres_per_unit(d["unit"])
        if factor is None:
            skipped.append((d["id"], d["name"], f"unit {d['unit']!r} is not a pressure unit "
                            f"known here ({', '.join(PRESSURE_UNITS)})"))
            continue
        obs = _observed(sensors, d["id"], at, start, end, max_age_ms, latest)
        if isinstance(obs, str):
            skipped.append((d["id"], d["name"], obs))
            continue
        observed = obs[0] * factor
        sim = pressure[d["feature_id"]]
        rows.append(LoggerResidual(d["id"], d["name"], d["feature_id"], obs[1],
                                   observed, sim, sim - observed))
    rows.sort(key=lambda r: (-abs(r.residual_m), r.datastream))
    return CalibrationCheck(net.network, result.time_s, at, start, end, tuple(rows),
                            tuple(skipped), dict(net.defaulted))

"""Controls of a hydraulic model: a link's status, setting or speed set at a
time of the run, at a clock time, or when a node's pressure, head or a
tank's level passes a value (EPANET's simple controls).

The twin keeps them on the link they act on, as the EPANET converter writes
them (``controls``: ``[{"when": {...}, "set": ..., "to": ...}]``, see
:mod:`converters.epanet_controls`). :func:`checked_controls` checks one
link's list against the model's nodes (a damaged control names its link);
:func:`add_controls` gives them to a ``wntr`` model, less those of links or
nodes left out of a run (a burst's isolation, parts no source reaches).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import AnalysisError

SETS = ("status", "setting", "speed")
STATUSES = ("OPEN", "CLOSED", "ACTIVE")
MEASURES = ("pressure", "level", "head")
#: Most controls read from one link.
MAX_PER_LINK = 1_000
#: Longest time of a control (s): a year.
MAX_TIME_S = 366 * 86_400


def _number(link: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise AnalysisError(f"link {link!r}: control {what} {value!r} is not a finite number")
    return float(value)


def _when(link: str, when: Any, nodes: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(when, dict):
        raise AnalysisError(f"link {link!r}: a control's 'when' must be an object, got "
                            f"{str(when)[:80]}")
    for key, top in (("time_s", MAX_TIME_S), ("clock_s", 86_400)):
        if key in when:
            t = _number(link, key, when[key])
            if not 0 <= t < top:
                raise AnalysisError(f"link {link!r}: control {key} {t:g} is out of range")
            return {key: int(t)}
    node, measure = when.get("node"), when.get("measure")
    if not isinstance(node, str) or node not in nodes:
        raise AnalysisError(f"link {link!r}: a control names node {str(node)[:120]!r}, "
                            "which is not in the network")
    if measure not in MEASURES:
        raise AnalysisError(f"link {link!r}: control measure {measure!r} is none of "
                            f"{', '.join(MEASURES)}")
    if measure == "level" and nodes[node].kind != "tank":
        raise AnalysisError(f"link {link!r}: a control on the level of {node!r}, which is "
                            "not a tank")
    sides = [s for s in ("below", "above") if s in when]
    if len(sides) != 1:
        raise AnalysisError(f"link {link!r}: a control on {node!r} needs one of 'below' "
                            "or 'above'")
    return {"node": node, "measure": measure, sides[0]: _number(link, sides[0],
                                                               when[sides[0]])}


def checked_controls(link: str, kind: str, value: Any, nodes: Mapping[str, Any]
                     ) -> tuple[dict[str, Any], ...]:
    """The ``controls`` attribute of ``link`` (a ``pipe``, ``pump`` or
    ``valve``), checked against the model's ``nodes``."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or len(value) > MAX_PER_LINK:
        raise AnalysisError(f"link {link!r}: controls must be a list of at most "
                            f"{MAX_PER_LINK}, got {str(value)[:80]}")
    out = []
    for c in value:
        if not isinstance(c, dict) or c.get("set") not in SETS:
            raise AnalysisError(f"link {link!r}: control {str(c)[:80]} sets none of "
                                f"{', '.join(SETS)}")
        what, to = c["set"], c.get("to")
        if what == "status":
            if to not in STATUSES:
                raise AnalysisError(f"link {link!r}: control status {to!r} is none of "
                                    f"{', '.join(STATUSES)}")
        else:
            to = _number(link, what, to)
            if what == "speed" and kind != "pump":
                raise AnalysisError(f"link {link!r}: a speed control on a {kind}")
        out.append({"when": _when(link, c.get("when"), nodes), "set": what, "to": to})
    return tuple(out)


def add_controls(wn, controls: Mapping[str, tuple[dict[str, Any], ...]],
                 node_name: Mapping[str, str], link_name: Mapping[str, str]) -> int:
    """Give the ``controls`` of each twin link to ``wn``, whose names for the
    twin's nodes and links are ``node_name`` and ``link_name`` (a link or
    node without a name there was left out of the run: its controls too).
    Returns how many were added."""
    from wntr.network.base import LinkStatus
    from wntr.network.controls import (
        Control,
        ControlAction,
        SimTimeCondition,
        TankLevelCondition,
        TimeOfDayCondition,
        ValueCondition,
    )

    status = {"OPEN": LinkStatus.Open, "CLOSED": LinkStatus.Closed,
              "ACTIVE": LinkStatus.Active}
    added = 0
    for link_id, cs in controls.items():
        if link_id not in link_name:
            continue
        link = wn.get_link(link_name[link_id])
        for c in cs:
            w = c["when"]
            if "time_s" in w:
                cond: Any = SimTimeCondition(wn, "=", w["time_s"])
            elif "clock_s" in w:
                cond = TimeOfDayCondition(wn, "=", w["clock_s"])
            else:
                if w["node"] not in node_name:
                    continue
                node = wn.get_node(node_name[w["node"]])
                rel, value = ("<", w["below"]) if "below" in w else (">", w["above"])
                cond = (TankLevelCondition if w["measure"] == "level" else ValueCondition)(
                    node, w["measure"], rel, value)
            attr = {"status": "status", "setting": "setting", "speed": "base_speed"}[c["set"]]
            to = status[c["to"]] if c["set"] == "status" else c["to"]
            wn.add_control(f"K{added}", Control(cond, ControlAction(link, attr, to)))
            added += 1
    return added

"""EPANET simple controls as the twin keeps them: on the link they act on.

A simple control of an EPANET model (``[CONTROLS]``) sets one link's status,
setting or speed at a time of the run, at a clock time, or when a node's
pressure, head or a tank's level passes a value. wntr reads them into its
own control language (``WaterNetworkModel.to_dict()["controls"]``, SI
units); this module turns each into a small dict on the controlled link's
feature, naming the node by its twin id:

``{"when": {"time_s": 3600}, "set": "status", "to": "OPEN"}``
``{"when": {"clock_s": 21600}, "set": "speed", "to": 1.2}``
``{"when": {"node": "epanet:Net3:node:1", "measure": "level", "below": 5.2}, ...}``

Rule-based controls (``[RULES]``: conditions joined by AND/OR, else-actions,
priorities) are not kept; the import counts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TIME = re.compile(r"SYSTEM TIME IS (\d+):(\d{2}):(\d{2})$")
CLOCK = re.compile(r"SYSTEM CLOCKTIME IS (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$")
VALUE = re.compile(r"(JUNCTION|TANK|RESERVOIR) (\S+) (PRESSURE|LEVEL|HEAD) (BELOW|ABOVE) (\S+)$")
ACTION = re.compile(r"(PIPE|PUMP|VALVE) (\S+) (STATUS|SETTING|BASE_SPEED) IS (\S+)$")
SETS = {"STATUS": "status", "SETTING": "setting", "BASE_SPEED": "speed"}
STATUSES = ("OPEN", "CLOSED", "ACTIVE")
#: Most controls kept on one link (a model driving a pump every hour of a
#: year has 8,760): the rest are counted as not kept.
MAX_PER_LINK = 1_000


def _when(condition: str, node_id: Callable[[str], str]) -> dict[str, Any] | None:
    if m := TIME.match(condition):
        h, mi, s = (int(g) for g in m.groups())
        return {"time_s": h * 3600 + mi * 60 + s}
    if m := CLOCK.match(condition):
        h, mi, s = (int(g) for g in m.groups()[:3])
        h = h % 12 + (12 if m.group(4) == "PM" else 0)
        return {"clock_s": h * 3600 + mi * 60 + s}
    if m := VALUE.match(condition):
        _kind, name, measure, side, value = m.groups()
        return {"node": node_id(name), "measure": measure.lower(),
                side.lower(): float(value)}
    return None


def _action(text: str) -> tuple[str, dict[str, Any]] | None:
    m = ACTION.match(text)
    if not m:
        return None
    _kind, link, what, value = m.groups()
    to: str | float = value.upper()
    if what != "STATUS":
        to = float(value)
    elif to not in STATUSES:
        return None
    return link, {"set": SETS[what], "to": to}


def link_controls(wn, node_id: Callable[[str], str], report: dict[str, Any]
                  ) -> dict[str, list[dict[str, Any]]]:
    """EPANET link name -> the simple controls acting on it, in the file's
    order; rules and what cannot be kept are counted in ``report``
    (``rules_not_kept``, ``controls_not_kept``: the first few as text)."""
    out: dict[str, list[dict[str, Any]]] = {}
    rules, not_kept = 0, []
    for c in wn.to_dict().get("controls", []):
        if c.get("type") != "simple":
            rules += 1
            continue
        actions = c.get("then_actions") or []
        when = _when(str(c.get("condition", "")), node_id)
        act = _action(str(actions[0])) if len(actions) == 1 else None
        if when is None or act is None or len(out.get(act[0], ())) >= MAX_PER_LINK:
            not_kept.append(f"IF {c.get('condition')} THEN {'; '.join(map(str, actions))}")
            continue
        out.setdefault(act[0], []).append({"when": when, **act[1]})
    if rules:
        report["rules_not_kept"] = rules
    if not_kept:
        report["controls_not_kept"] = {"count": len(not_kept), "first": not_kept[:5]}
    return out

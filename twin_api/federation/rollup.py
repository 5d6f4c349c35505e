"""Indicator roll-up: the region's health check made from its members'.

Every member computes its own indicators for the year (``/indicators``);
the region sums each indicator's numerators and denominators over the
members that measured it and makes its value the way each member made its
own (:func:`twin.analysis.rollup.combine`): the share of old heating pipes
of the region is old kilometres over all kilometres, not the mean of the
members' percentages.

What went into each total is stated: per indicator, every source with its
own value and whether it was summed (and if not, why: no data, failed, an
older toolkit without numerators, counted differently); per member, how many
indicators it contributed and a link to its own report (drill-down).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.analysis.rollup import ROLLUPS, combine

from .client import Failure, MemberClient, MemberFailure
from .config import Member
from .service import FederationService

_FIELDS = ("key", "title", "title_zh", "unit", "formula")


def _check(name: str, doc: Any) -> list[dict[str, Any]]:
    inds = doc.get("indicators") if isinstance(doc, dict) else None
    if not isinstance(inds, list) or not all(isinstance(i, dict) and isinstance(
            i.get("key"), str) for i in inds):
        raise MemberFailure(Failure(name, "bad answer", "/indicators holds no list of "
                                    "indicators with keys"))
    return inds


def _fetch(year: int) -> Callable:
    def call(m: Member, client: MemberClient, caps) -> tuple[list[dict[str, Any]], bool]:
        return _check(m.name, client.get_json("/indicators", {"year": year})), \
            caps.indicator_parts
    return call


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def roll_up(service: FederationService, own: dict[str, Any], year: int) -> dict[str, Any]:
    """The region's indicators for ``year``; ``own`` is this twin's
    ``/indicators`` document for that year."""
    fed = service.federation
    sources: list[tuple[str, str, str | None, str | None, Any]] = [
        (fed.name, fed.level, fed.code, None, (_check(fed.name, own), True))]
    for m, res in zip(service.members, service.ask(_fetch(year)), strict=True):
        sources.append((m.name, m.level, m.code, m.url, res))
    order: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    for *_, res in sources:
        if isinstance(res, Failure):
            continue
        for i in res[0]:
            if i["key"] not in meta:
                order.append(i["key"])
                meta[i["key"]] = {k: i.get(k) for k in _FIELDS}
                meta[i["key"]]["rollup"] = i.get("rollup") if i.get("rollup") in ROLLUPS \
                    else None
    summed_per: dict[str, int] = {s[0]: 0 for s in sources}
    indicators = []
    for key in order:
        rule = meta[key]["rollup"]
        num = den = 0.0
        rows: list[dict[str, Any]] = []
        for name, *_, res in sources:
            if isinstance(res, Failure):
                rows.append({"member": name, "summed": False, "why": f"failed: {res.reason}"})
                continue
            inds, parts = res
            i = next((x for x in inds if x["key"] == key), None)
            row: dict[str, Any] = {"member": name, "summed": False}
            if i is None:
                row["why"] = "not reported by this member"
            else:
                n, d = _number(i.get("numerator")), _number(i.get("denominator"))
                row.update(value=_number(i.get("value")), status=i.get("status"),
                           numerator=n, denominator=d)
                if row["value"] is None:
                    row["why"] = "no data"
                elif not parts or n is None:
                    row["why"] = "no numerator and denominator (an older toolkit)"
                elif i.get("rollup") != rule:
                    row["why"] = f"counted differently ({i.get('rollup')}, not {rule})"
                elif rule != "sum" and d is None:
                    row["why"] = "no denominator"
                else:
                    row["summed"] = True
                    row.pop("why", None)
                    num += n
                    den += d or 0.0
                    summed_per[name] += 1
            rows.append(row)
        k = sum(r["summed"] for r in rows)
        value = combine(rule, num, den) if k and rule else None
        indicators.append({**meta[key], "value": value,
                           "numerator": round(num, 6) if k else None,
                           "denominator": round(den, 6) if k and (den or rule != "sum")
                           else None,
                           "coverage": f"{k} of {len(rows)} twins summed", "sources": rows})
    failures = [r.to_dict() for *_, r in sources if isinstance(r, Failure)]
    members = []
    for name, level, code, url, res in sources:
        entry: dict[str, Any] = {"member": name, "level": level, "code": code}
        if isinstance(res, Failure):
            entry.update(status="failed", reason=res.reason, detail=res.detail)
        else:
            entry.update(status="ok" if res[1] else "not summed (an older toolkit)",
                         coverage=f"{summed_per[name]} of {len(res[0])} indicators summed")
        base = url if url is not None else ""
        entry["report"] = f"{base}/indicators?year={year}"
        entry["viewer"] = f"{base}/viewer/"
        members.append(entry)
    older = [m["member"] for m in members if m["status"].startswith("not summed")]
    failures += [{"member": n, "reason": "unsupported", "detail": "declares no indicator "
                  "numerators and denominators (an older toolkit): shown, not summed"}
                 for n in older]
    return {"year": year, "federation": fed.name, "level": fed.level,
            "partial": bool(failures or older), "failures": failures, "members": members,
            "indicators": indicators}

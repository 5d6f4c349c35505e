"""Federated search: one layer query over this twin and all its members.

Each source (this twin first, then the members in the order of the members
file) is asked the same OGC API - Features question: the features of a layer
in a WGS 84 bbox, with typed attribute comparisons (``where=storeys>18``).
The answer is one GeoJSON FeatureCollection in WGS 84 whose features carry
``"member"`` (the source they came from, a foreign member of GeoJSON, so
their properties stay as the member wrote them).

Paging: the result is the concatenation, in a fixed order, of every
(source, layer) answer, each in the source's own order. A page's ``next``
link carries an opaque cursor: the (source, layer, offset) where the next
page begins, bound to the question it was made for. All sources still ahead
of the cursor are asked at once, so a page takes as long as the slowest of
them, not their sum.

A source that fails is named in ``failures`` with why (down, timeout, http
error, unauthorized, unsupported), the page is marked ``"partial": true``
and paging goes on past it: never a 500, never a silent gap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from twin.errors import NotFoundError, QueryError

from .client import Failure, MemberClient, MemberFailure
from .config import Member
from .service import FederationService

MAX_LIMIT = 1000  # a member's page up to this size comes whole, with an ETag
MAX_LAYERS = 10
MAX_WHERE = 10
_LAYER = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: One source's answer: (features, numberMatched).
Answer = tuple[list[dict[str, Any]], int]


@dataclass(frozen=True)
class SearchRequest:
    layers: tuple[str, ...]
    bbox: tuple[float, float, float, float] | None = None
    where: tuple[str, ...] = ()
    limit: int = 100
    start: tuple[int, int, int] = (0, 0, 0)  # source, layer, offset

    @property
    def fingerprint(self) -> str:
        doc = json.dumps([self.layers, self.bbox, self.where], separators=(",", ":"))
        return hashlib.blake2b(doc.encode(), digest_size=6).hexdigest()


def parse_request(layers: Sequence[str], bbox: str | None, where: Sequence[str],
                  limit: int, cursor: str | None) -> SearchRequest:
    """Check the question; errors name the parameter and what is wrong."""
    if not layers:
        raise QueryError("layer: name at least one layer (repeat 'layer' for more)")
    if len(layers) > MAX_LAYERS or len(where) > MAX_WHERE:
        raise QueryError(f"at most {MAX_LAYERS} layers and {MAX_WHERE} 'where' filters")
    for name in layers:
        if not _LAYER.fullmatch(name):
            raise QueryError(f"layer {name!r} is not a layer name")
    for w in where:
        if not w or len(w) > 200:
            raise QueryError(f"where {w[:40]!r}: a filter is 1 to 200 characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    box = None
    if bbox is not None:
        try:
            v = tuple(float(x) for x in bbox.split(","))
        except ValueError:
            raise QueryError(f"bbox {bbox!r}: four numbers, lon,lat,lon,lat (WGS 84)") from None
        if len(v) != 4 or not all(math.isfinite(x) for x in v) or not (
                -180 <= v[0] <= v[2] <= 180 and -90 <= v[1] <= v[3] <= 90):
            raise QueryError(f"bbox {bbox!r}: four numbers minlon,minlat,maxlon,maxlat "
                             "in WGS 84 (degrees, min before max)")
        box = v
    req = SearchRequest(tuple(layers), box, tuple(where), limit)
    if cursor is None:
        return req
    return SearchRequest(req.layers, req.bbox, req.where, limit, _decode(cursor, req))


def encode_cursor(req: SearchRequest, pos: tuple[int, int, int]) -> str:
    doc = json.dumps({"q": req.fingerprint, "p": list(pos)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")


def _decode(cursor: str, req: SearchRequest) -> tuple[int, int, int]:
    bad = QueryError("cursor: not a cursor of this search (take the 'next' link of the "
                     "previous page, with the same layer, bbox and where)")
    if len(cursor) > 200:
        raise bad
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        pos = tuple(int(x) for x in doc["p"])
        ok = doc["q"] == req.fingerprint and len(pos) == 3 and min(pos) >= 0
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if not ok:
        raise bad
    return pos  # type: ignore[return-value]


def _params(req: SearchRequest, limit: int, offset: int) -> list[tuple[str, str]]:
    p = [("limit", str(limit)), ("offset", str(offset))]
    if req.bbox is not None:
        p.append(("bbox", ",".join(repr(x) for x in req.bbox)))
    p += [("where", w) for w in req.where]
    return p


def _member_answer(req: SearchRequest, layer: str, offset: int) -> Callable:
    def call(m: Member, client: MemberClient, caps) -> Answer:
        if not caps.features:
            raise MemberFailure(Failure(m.name, "unsupported", "declares no OGC API - "
                                        "Features core with GeoJSON"))
        if req.where and not caps.where:
            raise MemberFailure(Failure(m.name, "unsupported", "declares no typed attribute "
                                        "filters ('where'; an older toolkit): left out of "
                                        "this filtered search"))
        doc = client.get_json(f"/collections/{layer}/items",
                              _params(req, req.limit, offset))
        feats = doc.get("features") if isinstance(doc, dict) else None
        matched = doc.get("numberMatched") if isinstance(doc, dict) else None
        if not isinstance(feats, list) or not isinstance(matched, int):
            raise MemberFailure(Failure(m.name, "bad answer", f"/collections/{layer}/items is "
                                        "not a FeatureCollection with numberMatched"))
        return feats, matched
    return call


def federated_search(service: FederationService, own: Callable[[str, list], Answer],
                     req: SearchRequest, self_url: str) -> dict[str, Any]:
    """One page of the federated search. ``own(layer, params)`` answers for
    this twin (the same ``/items`` code its server runs)."""
    names = [service.federation.name] + [m.name for m in service.members]
    s0, l0, o0 = req.start
    if s0 >= len(names) or l0 >= len(req.layers):
        raise QueryError("cursor: points past the sources of this federation "
                         "(the members file changed?); start again without a cursor")
    # ask every (source, layer) still ahead of the cursor, all at once
    answers: dict[tuple[int, int], Answer | Failure] = {}
    for li, layer in enumerate(req.layers):
        if (0, li) >= (s0, l0):
            off = o0 if (0, li) == (s0, l0) else 0
            try:
                answers[0, li] = own(layer, _params(req, req.limit, off))
            except NotFoundError as exc:  # this twin has no such layer
                answers[0, li] = Failure(names[0], "unsupported", str(exc))
        ahead = [m for si, m in enumerate(service.members, 1)
                 if (si, li) >= (s0, l0)]
        offsets = {(si, li): (o0 if (si, li) == (s0, l0) else 0)
                   for si in range(1, len(names))}
        by_member: dict[str, Answer | Failure] = {}
        for off in sorted(set(offsets.values())):
            group = [m for m in ahead if offsets[names.index(m.name), li] == off]
            for m, res in zip(group, service.ask(_member_answer(req, layer, off), group),
                              strict=True):
                by_member[m.name] = res
        for m in ahead:
            answers[names.index(m.name), li] = by_member[m.name]
    return _page(req, names, answers, self_url)


def _page(req: SearchRequest, names: list[str], answers: dict, self_url: str
          ) -> dict[str, Any]:
    feats: list[dict[str, Any]] = []
    failures: dict[str, Failure] = {}
    matched: dict[str, int] = {}
    nxt: tuple[int, int, int] | None = None
    full = False
    for key in sorted(answers):
        si, li = key
        res = answers[key]
        name = names[si]
        if isinstance(res, Failure):
            failures.setdefault(name, res)
            if full and nxt is None:  # ask it again on the next page
                nxt = (si, li, 0)
            continue
        got, n = res
        matched[name] = matched.get(name, 0) + n
        if full:
            if nxt is None and n > 0:
                nxt = (si, li, 0)
            continue
        off = req.start[2] if key == req.start[:2] else 0
        take = got[:req.limit - len(feats)]
        feats += [{**f, "member": name} for f in take if isinstance(f, dict)]
        full = len(feats) >= req.limit
        if len(take) < len(got) or (full and off + len(take) < n):
            nxt = (si, li, off + len(take))
    doc: dict[str, Any] = {
        "type": "FeatureCollection", "features": feats, "numberReturned": len(feats),
        "partial": bool(failures),
        "failures": [f.to_dict() for f in failures.values()],
        "members": [{"member": n, "numberMatched": matched.get(n),
                     "status": "failed" if n in failures else "ok"}
                    for n in names if n in matched or n in failures],
    }
    if req.start == (0, 0, 0) and not failures:
        doc["numberMatched"] = sum(matched.values())
    links = []
    if nxt is not None:
        q = [("layer", x) for x in req.layers] + [("limit", str(req.limit))]
        if req.bbox is not None:
            q.append(("bbox", ",".join(repr(x) for x in req.bbox)))
        q += [("where", w) for w in req.where] + [("cursor", encode_cursor(req, nxt))]
        links.append({"rel": "next", "type": "application/geo+json",
                      "href": f"{self_url}?{urlencode(q)}"})
    doc["links"] = links
    return doc



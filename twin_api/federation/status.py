"""Each member's reachability, version, CRS and extent
(``twin federation check``, ``/federation/members``)."""

from __future__ import annotations

from typing import Any

from .client import Failure
from .service import FederationService


def member_status(service: FederationService) -> list[dict[str, Any]]:
    """One row per member: reachable or why not, and what it declares."""
    def call(m, client, caps) -> dict[str, Any]:
        return caps.to_dict()

    for m in service.members:  # read afresh: a check must not trust what it cached
        service.forget(m.name)
    out = []
    for m, res in zip(service.members, service.ask(call), strict=True):
        row: dict[str, Any] = {"member": m.name, "level": m.level, "code": m.code,
                               "url": m.url, "token": m.has_token}
        if isinstance(res, Failure):
            row.update(reachable=False, reason=res.reason, detail=res.detail)
        else:
            row.update(reachable=True, **res)
        out.append(row)
    return out

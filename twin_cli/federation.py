"""``twin federation``: a region's (or city's) view of its member twins."""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from .output import console

#: Exit status when a member cannot be reached (2 stays for bad input).
UNREACHABLE = 3


@click.group()
def federation() -> None:
    """Member twins of a region or city (a members file, see docs/federation.md)."""


@federation.command()
@click.argument("members_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check(members_file: str, as_json: bool) -> None:
    """Reach every member of MEMBERS_FILE: reachable or why not (down,
    timeout, http error, unauthorized), toolkit version, CRS, extent (WGS 84)
    and what it offers (typed filters, indicator numerators, 3D Tiles).
    Exit status 3 when a member cannot be reached."""
    from twin_api.federation.config import load_federation
    from twin_api.federation.service import FederationService
    from twin_api.federation.status import member_status

    service = FederationService(load_federation(members_file))
    try:
        rows = member_status(service)
    finally:
        service.close()
    if as_json:
        click.echo(json.dumps({"federation": service.federation.name,
                               "level": service.federation.level, "members": rows},
                              indent=2, ensure_ascii=False))
    else:
        t = Table(title=f"{service.federation.name} ({service.federation.level}): "
                        f"{len(rows)} members")
        for col in ("member", "level", "code", "url", "reachable", "version", "CRS",
                    "extent (lon/lat)", "offers"):
            t.add_column(col)
        for r in rows:
            if r["reachable"]:
                ext = r["extent_crs84"]
                offers = [k for k in ("where", "indicator_parts") if r[k]]
                offers += ["tiles"] if r["tiles"] else []
                t.add_row(r["member"], r["level"], r["code"] or "", r["url"], "yes",
                          r["version"] or "not declared (older)", r["crs"] or "?",
                          ", ".join(f"{v:.4f}" for v in ext) if ext else "empty",
                          ", ".join(offers) or "features only")
            else:
                t.add_row(r["member"], r["level"], r["code"] or "", r["url"],
                          f"no: {r['reason']}", "", "", "", r["detail"])
        console().print(t)
    down = [r for r in rows if not r["reachable"]]
    for r in down:
        click.echo(f"member {r['member']} ({r['url']}) unreachable: {r['reason']}: "
                   f"{r['detail']}", err=True)
    if down:
        sys.exit(UNREACHABLE)

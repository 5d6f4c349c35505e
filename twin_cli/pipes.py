"""``twin pipes``: analyses of the underground networks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import click
from rich.table import Table

import twin

from .options import TWIN
from .output import console, styled


def _dump(obj) -> str:
    def conv(o):
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        return str(o)
    return json.dumps(obj, default=conv, indent=2, ensure_ascii=False)


@click.group()
def pipes() -> None:
    """Analyses of pipe networks: ageing, statistics, clearances, isolation,
    hydraulics (EPANET runs and pressure-logger checks)."""


_year = click.option("--year", type=int, default=lambda: dt.date.today().year,
                     show_default="this year", help="Reference year for ages.")
_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_twin_arg = click.argument("path", type=TWIN)


@pipes.command()
@_twin_arg
@_year
@click.option("--min-age", type=int, default=20, show_default=True,
              help="Years in service from which a pipe is due for renewal.")
@click.option("--layer", "layers", multiple=True, default=("heating",), show_default=True,
              help="Utility layer(s) of the renewal list.")
@click.option("--limit", type=click.IntRange(min=0), default=200, show_default=True,
              help="Rows of the table (0: all); --json always lists all.")
@_json
def renewal(path, year, min_age, layers, limit, as_json) -> None:
    """The renewal list: pipes in service MIN-AGE years or more, oldest first."""
    from twin.analysis.ageing import renewal_list
    from twin.analysis.segments import load_segments

    with twin.open_twin(path, readonly=True) as store:
        rl = renewal_list(load_segments(store, tuple(layers)), year, min_age, tuple(layers))
    if as_json:
        click.echo(_dump({**dataclasses.asdict(rl), "length_m": rl.length_m,
                          "share_by_length": rl.share_by_length}))
        return
    out = console(soft_wrap=True)
    out.print(f"{len(rl.items)} of {rl.total_segments} segments of {', '.join(layers)} in "
              f"service {min_age} years or more in {year}: {rl.length_m / 1000:.2f} km of "
              f"{rl.total_length_m / 1000:.2f} km ({rl.share_by_length:.1%} by length); "
              f"{rl.unknown_age_segments} without install year")
    t = Table("id", "type", "laid", "age", "length m", "DN", "material")
    shown = rl.items if limit == 0 else rl.items[:limit]
    for i in shown:
        t.add_row(i.id, i.type, str(i.install_year), str(i.age),
                  f"{i.length_m:.1f}", f"{i.diameter_mm:g}", i.material)
    out.print(t)
    if len(shown) < len(rl.items):
        out.print(f"... {len(rl.items) - len(shown)} more segments not shown (the oldest "
                  f"{len(shown)} are); --limit 0 or --json lists all {len(rl.items)}")


@pipes.command()
@_twin_arg
@_year
@_json
def stats(path, year, as_json) -> None:
    """Length per network by diameter, material and age band."""
    from twin.analysis.segments import load_segments
    from twin.analysis.statistics import network_statistics

    with twin.open_twin(path, readonly=True) as store:
        rows = network_statistics(load_segments(store), year)
    if as_json:
        click.echo(_dump(rows))
        return
    out = console(soft_wrap=True)
    for r in rows:
        out.print(styled(r.layer, "bold"), f"{r.segments} segments, {r.length_km:.2f} km",
                  sep=": ")
        for title, d in (("diameter", r.by_diameter_km), ("material", r.by_material_km),
                         ("age band", r.by_age_band_km)):
            out.print(f"  by {title}: " + ", ".join(f"{k} {v:.2f} km"
                                                    for k, v in d.items()))


@pipes.command()
@_twin_arg
@click.option("--rules", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A TOML rules table replacing the GB 50289 defaults.")
@_json
def clearance(path, rules, as_json) -> None:
    """Clearance violations between pipes and to buildings (GB 50289 by default)."""
    from twin.analysis.clearance import check_twin_clearances, load_rules

    ruleset = load_rules(rules)
    with twin.open_twin(path, readonly=True) as store:
        c = check_twin_clearances(store, ruleset)
    v = c.violations
    if as_json:
        click.echo(_dump({"rules": ruleset.name, "segments": c.segments,
                          "buildings": c.buildings, "confirmed": len(c.confirmed),
                          "unconfirmed": len(c.unconfirmed), "violations": v}))
        return
    out = console(soft_wrap=True)
    out.print(f"{len(c.confirmed)} clearance violations among {c.segments} segments and "
              f"{c.buildings} buildings (rules: {ruleset.name})")
    if c.unconfirmed:
        out.print(styled(f"{len(c.unconfirmed)} more unconfirmed:", "yellow"),
                  "crossings of two pipes whose depths are both assumed "
                  "(depth_source=assumed); survey them before acting")
    t = Table("kind", "feature", "against", "clear m", "required m", "rule", "confirmed")
    for x in v[:500]:
        t.add_row(x.kind, x.a, x.b, f"{x.distance_m:.2f}",
                  f"{x.required_m:.2f}", x.rule, "yes" if x.confirmed else "no")
    out.print(t)
    if len(v) > 500:
        out.print(f"... {len(v) - 500} more not shown; --json lists all {len(v)}")


@pipes.command()
@_twin_arg
@click.argument("segment")
@click.option("--hydraulics", is_flag=True,
              help="Also run EPANET with the segments out of service: nodes left under the "
                   "service pressure and the unsupplied demand, against the intact network.")
@click.option("--service-pressure", type=click.FloatRange(min=0, max=200), default=14.0,
              show_default=True, help="Minimum pressure (m of water) with --hydraulics.")
@click.option("--skip-unsupplied", is_flag=True,
              help="With --hydraulics: leave the parts no source reaches even before the "
                   "burst out of both runs and list them, instead of refusing.")
@_json
def isolate(path, segment, hydraulics, service_pressure, skip_unsupplied, as_json) -> None:
    """What a burst of SEGMENT shuts down: valves to close, segments, buildings."""
    from twin.analysis.isolation import isolation_for

    with twin.open_twin(path, readonly=True) as store:
        r = isolation_for(store, segment, hydraulics=hydraulics,
                          service_pressure_m=service_pressure, skip_unsupplied=skip_unsupplied)
    if as_json:
        click.echo(_dump({**dataclasses.asdict(r), "out_of_service": r.out_of_service}))
        return
    out = console(soft_wrap=True)
    out.print(f"burst of {segment}: close {len(r.valves_to_close)} valves "
              f"({', '.join(r.valves_to_close)})")
    out.print(f"  isolated segments: {len(r.isolated_segments)}; cut off from supply: "
              f"{len(r.cut_off_segments)}" + ("" if r.sources_known else
                                              " (no supply points known in this network)"))
    if r.note:
        out.print("  ", styled("note:", "yellow"), " ", r.note, sep="")
    out.print(f"  buildings without supply: {len(r.buildings_without_supply)} "
              f"({', '.join(r.buildings_without_supply[:20])}"
              f"{' ...' if len(r.buildings_without_supply) > 20 else ''})")
    if r.hydraulics is not None:
        _print_impact(out, r.hydraulics)


def _print_impact(out, h) -> None:
    def few(ids):
        return ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "")

    out.print(f"  hydraulics (EPANET, service pressure {h.service_pressure_m:g} m): "
              f"{len(h.unsupplied_nodes)} nodes unsupplied ({h.unsupplied_demand_m3s * 1000:.2f}"
              f" L/s of {h.total_demand_m3s * 1000:.2f} L/s demand)")
    out.print(f"  under service pressure: {len(h.below_service)} nodes ({few(h.below_service)}),"
              f" {len(h.newly_below)} of them only after the isolation; "
              f"{h.demand_below_service_m3s * 1000:.2f} L/s drawn there")
    def metres(p):
        return "none left" if p is None else f"{p:.2f} m"

    if h.unsupplied_before:
        out.print("  ", styled("not simulated:", "yellow"), f" {len(h.unsupplied_before)} nodes "
                  f"no source reached before the burst ({few(h.unsupplied_before)})", sep="")

    out.print(f"  lowest junction pressure: {metres(h.min_pressure_m)} "
              f"(intact: {metres(h.min_pressure_intact_m)})")
    if h.defaulted:
        out.print("  ", styled("assumed:", "yellow"), " ",
                  ", ".join(f"{w} for {n}" for w, n in h.defaulted.items()), sep="")


from .hydraulics_cmd import calibration_check, simulate  # noqa: E402

pipes.add_command(simulate)
pipes.add_command(calibration_check)

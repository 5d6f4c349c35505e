"""``twin pipes simulate`` and ``twin pipes calibration-check``: EPANET runs
of the twin's water network (WNTR), and its pressure loggers against them."""

from __future__ import annotations

import dataclasses
import json
import re

import click
import numpy as np
from rich.table import Table

import twin
from twin.errors import OptionError

from .options import TWIN
from .output import console, styled

_UNITS = {"": 3600, "h": 3600, "min": 60, "m": 60, "s": 1, "d": 86_400}


def duration_s(text: str) -> int:
    """``6h``, ``90min``, ``3600s``, ``1d`` or a bare number of hours, in seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(h|min|m|s|d)?\s*", text or "")
    if not m:
        raise OptionError(f"time {text!r} is not a duration such as 0, 6h, 90min or 3600s")
    return int(round(float(m.group(1)) * _UNITS[m.group(2) or ""]))


_network = click.option("--network", default=None,
                        help="The network to simulate (default: the twin's one water network).")
_sim_at = click.option("--at", "at", default="0", show_default=True,
                       help="Simulated time after the start: 0 is the steady state; 6h, 90min "
                            "or 3600s run an extended period (tanks move, demands stay).")
_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
_skip = click.option("--skip-unsupplied", is_flag=True,
                     help="Leave the parts no source reaches (e.g. a survey delivery not yet "
                          "connected) out of the run and list them, instead of refusing.")


def _defaults_note(out, defaulted: dict[str, int]) -> None:
    if defaulted:
        out.print(styled("assumed:", "yellow"), ", ".join(
            f"{what} for {n}" for what, n in defaulted.items()),
            "(the twin does not say; see docs/hydraulics.md)")


def _unsupplied_note(out, unsupplied) -> None:
    if unsupplied:
        out.print(styled("not simulated:", "yellow"), f"{len(unsupplied)} nodes no source "
                  f"reaches ({', '.join(unsupplied[:5])}{' ...' if len(unsupplied) > 5 else ''})")


@click.command()
@click.argument("path", type=TWIN)
@_network
@_sim_at
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Lowest-pressure nodes listed (0: all); --json lists all.")
@_skip
@_json
def simulate(path, network, at, limit, skip_unsupplied, as_json) -> None:
    """EPANET (WNTR) run of the twin's water network: pressures, heads, flows."""
    from twin.analysis.hydraulics import simulate_twin

    with twin.open_twin(path, readonly=True) as store:
        r = simulate_twin(store, network, duration_s(at), skip_unsupplied=skip_unsupplied)
    if as_json:
        click.echo(json.dumps({
            **r.summary(),
            "nodes": [{"id": i, "kind": k, "pressure_m": p, "head_m": h, "demand_m3s": d}
                      for i, k, p, h, d in zip(r.node_ids.tolist(), r.kinds.tolist(),
                                               r.pressure_m.tolist(), r.head_m.tolist(),
                                               r.demand_m3s.tolist())],
            "links": [{"id": i, "flow_m3s": q} for i, q in
                      zip(r.link_ids.tolist(), r.flow_m3s.tolist())]}, indent=2))
        return
    s = r.summary()
    out = console(soft_wrap=True)
    spread = "no junctions" if s["junctions"] == 0 else (
        f"junction pressure {s['pressure_min_m']:.2f} to {s['pressure_max_m']:.2f} m "
        f"(mean {s['pressure_mean_m']:.2f})")
    out.print(f"network {r.network} at {r.time_s} s: {s['nodes']} nodes, {s['links']} links; "
              f"{spread}; demand {s['demand_m3s'] * 1000:.2f} L/s")
    _defaults_note(out, r.defaulted)
    _unsupplied_note(out, r.unsupplied)
    for w in r.warnings:
        out.print(styled("EPANET:", "yellow"), w)
    order = np.flatnonzero(r.kinds != "reservoir")
    order = order[r.pressure_m[order].argsort(kind="stable")]
    shown = order if limit == 0 else order[:limit]
    t = Table("node", "kind", "pressure m", "head m", "demand (tank: inflow) L/s")
    for k in shown:
        t.add_row(str(r.node_ids[k]), str(r.kinds[k]), f"{r.pressure_m[k]:.2f}",
                  f"{r.head_m[k]:.2f}", f"{r.demand_m3s[k] * 1000:.3f}")
    out.print(t)
    if len(shown) < len(order):
        out.print(f"... the {len(shown)} lowest of {len(order)} junctions and tanks; "
                  "--limit 0 or --json lists all")


@click.command("calibration-check")
@click.argument("path", type=TWIN)
@_network
@click.option("--time", "when", default=None, metavar="ISO",
              help="Compare each logger's last reading up to this time (at most an hour "
                   "old), e.g. 2025-04-01T08:00:00+08:00.")
@click.option("--from", "start", default=None, metavar="ISO",
              help="With --to: compare the mean of the readings in this interval.")
@click.option("--to", "end", default=None, metavar="ISO", help="End of the interval (excluded).")
@_sim_at
@click.option("--worst", type=click.IntRange(min=1), default=5, show_default=True,
              help="Loggers listed (the largest residuals first); --json lists all.")
@_skip
@_json
def calibration_check(path, network, when, start, end, at, worst, skip_unsupplied,
                      as_json) -> None:
    """Simulated against observed pressure at every pressure logger on a node.

    Without --time or --from/--to, each logger's latest reading is used.
    Residual = simulated - observed (m of water); RMSE and mean over the loggers.
    """
    from twin.analysis.calibration import calibration_check as check
    from twin.analysis.hydraulics import twin_network
    from twin.sensors.model import iso, to_ms

    if (start is None) != (end is None):
        raise click.UsageError("--from and --to go together")
    with twin.open_twin(path, readonly=True) as store:
        c = check(store, twin_network(store, network),
                  at=to_ms(when, what="--time") if when else None,
                  start=to_ms(start, what="--from") if start else None,
                  end=to_ms(end, what="--to") if end else None, sim_at_s=duration_s(at),
                  skip_unsupplied=skip_unsupplied)
    doc = {"network": c.network, "time_s": c.time_s, "at": iso(c.at), "from": iso(c.start),
           "to": iso(c.end), "loggers": len(c.residuals), "rmse_m": c.rmse_m,
           "mean_residual_m": c.mean_residual_m,
           "residuals": [dataclasses.asdict(r) for r in c.residuals],
           "skipped": [{"datastream": d, "name": n, "reason": why} for d, n, why in c.skipped],
           "defaulted": c.defaulted}
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    out = console(soft_wrap=True)
    if not c.residuals:
        out.print(f"no pressure logger of network {c.network} could be compared")
    else:
        out.print(f"{len(c.residuals)} pressure loggers of network {c.network}: RMSE "
                  f"{c.rmse_m:.2f} m, mean residual {c.mean_residual_m:+.2f} m "
                  "(simulated - observed)")
    _defaults_note(out, c.defaulted)
    t = Table("datastream", "name", "node", "readings", "observed m", "simulated m",
              "residual m")
    for r in c.worst(worst):
        t.add_row(str(r.datastream), r.name, r.node, str(r.readings), f"{r.observed_m:.2f}",
                  f"{r.simulated_m:.2f}", f"{r.residual_m:+.2f}")
    if c.residuals:
        out.print(t)
    for d, n, why in c.skipped:
        out.print(styled("skipped", "yellow"), f"datastream {d} ({n}): {why}")

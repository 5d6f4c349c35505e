"""A change set (:mod:`twin.diff`) as a self-contained HTML report: counts
per layer, a plan map of the changes (added green, removed red, changed
amber, drawn with matplotlib and embedded as a PNG), and the list of changes
with what changed, before and after. One file that opens anywhere offline;
every value goes into the page escaped, as text."""

from __future__ import annotations

import html
from typing import Any

from twin.diff import ChangeSet, _plan

from .highlight import ADDED, CHANGED, REMOVED

#: Colours of the kinds of change (those of the viewers' ``changes:`` highlight).
COLOURS = {"added": ADDED, "removed": REMOVED, "changed": CHANGED}
#: The page loads nothing and runs nothing: its map is a data URI.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
#: Changes listed one by one in the report (all are counted and mapped).
MAX_LISTED = 2000


def change_map(cs: ChangeSet) -> str:
    """The changes in plan, coloured by kind, as a PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely

    from .health_figures import _png

    fig, ax = plt.subplots(figsize=(8, 6))
    drawn = False
    for c in cs.changes:
        g = _plan(c.feature) if c.feature is not None else None
        if g is None:
            continue
        colour = COLOURS[c.kind]
        for part in getattr(g, "geoms", [g]):
            if part.geom_type == "Polygon":
                x, y = part.exterior.xy
                ax.fill(x, y, color=colour, alpha=0.6, linewidth=0.5)
            elif part.geom_type == "LineString":
                x, y = part.xy
                ax.plot(x, y, color=colour, linewidth=1.5)
            else:
                p = shapely.centroid(part)
                ax.plot([p.x], [p.y], "o", color=colour, markersize=4)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no changes with a geometry", ha="center", va="center",
                transform=ax.transAxes)
    for kind, colour in COLOURS.items():
        ax.plot([], [], "s", color=colour, label=kind)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    ax.set_title("Changes in plan (twin CRS)")
    return _png(plt, fig)


def render_html(cs: ChangeSet, *, title: str = "Twin changes") -> str:
    """The report as one HTML page."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(layer)}</td><td class=a>{n['added']}</td><td class=r>{n['removed']}</td>"
        f"<td class=c>{n['changed']}</td></tr>" for layer, n in cs.counts().items())
    listed = []
    for c in cs.changes[:MAX_LISTED]:
        vals = "; ".join(f"{k}: {_short(c.before.get(k))} \u2192 {_short(c.after.get(k))}"
                         for k in sorted(set(c.before) | set(c.after)))
        listed.append(
            f"<tr><td>{e(c.id)}</td><td>{e(c.layer)}</td>"
            f"<td style='color:{COLOURS[c.kind]}'>{e(c.kind)}</td><td>{e(', '.join(c.what))}"
            f"</td><td>{c.moved:.2f}</td><td>{c.reshaped:.2f}</td><td>{e(vals)}</td></tr>")
    more = len(cs.changes) - MAX_LISTED
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{e(title)}</title>
<style>body{{font:14px sans-serif;margin:2em;max-width:72em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}.a{{color:{COLOURS['added']}}}
.r{{color:{COLOURS['removed']}}}.c{{color:#9a6700}}</style></head><body>
<h1>{e(title)}</h1>
<p>From <b>{e(cs.first)}</b> to <b>{e(cs.second)}</b>; geometry tolerance {cs.tolerance:g} m;
{len(cs.changes)} changes, {cs.unchanged} features unchanged.</p>
<h2>Per layer</h2>
<table><tr><th>layer</th><th>added</th><th>removed</th><th>changed</th></tr>{rows}</table>
<h2>Map</h2><img alt="map of the changes" src="{change_map(cs)}">
<h2>Changes</h2>
<table><tr><th>id</th><th>layer</th><th>change</th><th>what</th><th>moved m</th>
<th>reshaped m</th><th>before \u2192 after</th></tr>{''.join(listed)}</table>
{f'<p>... {more} more (the GeoJSON change set lists them all)</p>' if more > 0 else ''}
</body></html>
"""


def _short(v: Any) -> str:
    text = "\u2013" if v is None else str(v)
    return text if len(text) <= 60 else text[:57] + "..."

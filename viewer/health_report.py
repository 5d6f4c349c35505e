"""The city health check as a self-contained HTML report (tables, charts, map).

Charts and the map are drawn with matplotlib (Agg, no display) and embedded
as PNG data URIs, so the report is one file that opens anywhere offline.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from twin.analysis.indicators import MET, NO_DATA, NO_TARGET, NOT_MET, HealthCheck
from twin.query import Query
from twin.store.base import TwinStore


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def age_chart(check: HealthCheck) -> str:
    """Bars of pipe length per age band, one group per network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    groups = [i for i in check.indicators if i.key.endswith("_age") and i.details.get("bands")]
    width = 0.8 / max(1, len(groups))
    labels: list[str] = []
    for gi, ind in enumerate(groups):
        bands = ind.details["bands"]
        labels = labels or [b["band"] for b in bands]
        xs = [labels.index(b["band"]) + gi * width for b in bands if b["band"] in labels]
        ax.bar(xs, [b["km"] for b in bands if b["band"] in labels], width, label=ind.title)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))], labels)
    ax.set_xlabel("years in service")
    ax.set_ylabel("km")
    if groups:
        ax.legend(fontsize=8)
    else:  # no data: say so instead of empty axes
        ax.text(0.5, 0.5, "no data: the twin has no pipes with an install year",
                ha="center", va="center", transform=ax.transAxes, color="#9a6700")
    ax.set_title("Pipe length by age band")
    return _png(fig)


def map_snapshot(store: TwinStore, year: int, min_age: int = 20) -> str:
    """A plan map: buildings shaded by storeys, heating pipes red where they
    are due for renewal, other pipes grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely

    fig, ax = plt.subplots(figsize=(7, 7))
    for f in store.query(Query(layers=("roads", "landuse"))):
        if f.footprint is not None and f.footprint.geom_type in ("Polygon", "MultiPolygon"):
            for poly in getattr(f.footprint, "geoms", [f.footprint]):
                x, y = poly.exterior.xy
                ax.fill(x, y, color="#e6e6e6" if f.layer == "roads" else "#f3f0d8", lw=0)
    cmap = plt.get_cmap("viridis")
    for f in store.query(Query(layers=("buildings",))):
        if f.footprint is None:
            continue
        s = f.attributes.get("storeys") or 1
        for poly in getattr(f.footprint, "geoms", [f.footprint]):
            x, y = poly.exterior.xy
            ax.fill(x, y, color=cmap(min(s, 33) / 33), lw=0.2, ec="#333")
    for f in store.query(Query(layers=("heating", "water_supply", "gas", "sewage"))):
        if f.footprint is None:
            continue
        xy = shapely.get_coordinates(f.footprint)
        old = f.layer == "heating" and (f.attributes.get("install_year") or year) <= year - min_age
        ax.plot(xy[:, 0], xy[:, 1], color="#d7191c" if old else "#999999",
                lw=1.6 if old else 0.5)
    ax.set_aspect("equal")
    ax.set_title(f"Buildings by storeys; heating pipes {min_age}+ years old in red")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    return _png(fig)


#: status -> (text in the Status column, row class)
_STATUS = {MET: ("✔ met", "ok"), NOT_MET: ("✘ not met", "bad"), NO_DATA: ("no data", "nodata"),
           NO_TARGET: ("", "")}


def trend_chart(history: list) -> str:
    """Small multiples: each indicator's value over the kept years, the
    ones with a warning (预警) in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t for t in history if any(p[1] is not None for p in t.points)]
    cols = 3
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.2 * rows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax, t in zip(axes.flat, shown):
        pts = [(y, v) for y, v, _s in t.points if v is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                color="#cf222e" if t.warnings else "#0969da")
        ax.set_title(t.title[:40] + (" (warning)" if t.warnings else ""), fontsize=8)
        ax.set_xticks([p[0] for p in pts])
        ax.tick_params(labelsize=7)
        ax.set_ylabel(t.unit[:20], fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _trend_section(history: list) -> str:
    if not history:
        return ""
    e = html.escape
    rows = []
    for t in history:
        pts = " → ".join(f"{y}: {'n/a' if v is None else f'{v:,.2f}'}" for y, v, _s in t.points)
        warn = ", ".join(t.warnings)
        rows.append(f"<tr class='{'bad' if warn else 'ok'}' data-warning='{e(warn)}'>"
                    f"<td>{e(t.title)}</td><td>{e(pts)} {e(t.unit)}</td>"
                    f"<td>{('预警: ' + e(warn)) if warn else ''}</td></tr>")
    return (f"<h2>Trends over the kept years</h2><table><thead><tr><th>Indicator</th>"
            f"<th>Values</th><th>Warning</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table><img id='trend-chart' alt='indicator trends' "
            f"src='{trend_chart(history)}'>")


def render_html(check: HealthCheck, store: TwinStore, *, title: str = "City health check",
                history: list | None = None) -> str:
    """The report as one HTML document (with ``history``, the trends of
    :func:`twin.analysis.trends.trends`)."""
    e = html.escape
    rows = []
    for i in check.indicators:
        status, css = _STATUS[i.status]
        value = "n/a" if i.value is None else f"{i.value:,.2f}".rstrip("0").rstrip(".")
        rows.append(
            f"<tr class='{css}' data-status='{e(i.status)}'>"
            f"<td><b>{e(i.title)}</b><br><span lang='zh'>{e(i.title_zh)}</span></td>"
            f"<td class='num'>{e(value)} {e(i.unit)}</td><td>{e(i.target or '-')}</td>"
            f"<td>{e(status)}</td><td><small>{e(i.formula)}<br><i>data:</i> {e(i.data)}<br>"
            f"<i>coverage:</i> {e(i.coverage)}{'<br><i>note:</i> ' + e(i.note) if i.note else ''}"
            f"</small></td></tr>")
    info = store.info()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)} {check.year}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 6px 8px; vertical-align: top; text-align: left; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.ok td:nth-child(4) {{ color: #1a7f37; }} tr.bad td:nth-child(4) {{ color: #cf222e; }}
tr.nodata td:nth-child(4) {{ color: #9a6700; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 1em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{e(title)} · 城市体检 {check.year}</h1>
<p>Twin: {e(Path(info.path).name)} · CRS {e(info.crs.name)} ·
{info.feature_count} features · new buildings: built {check.new_since} or later ·
county town: {'yes' if check.county_town else 'no'}</p>
<table><thead><tr><th>Indicator</th><th>Value</th><th>Target</th><th>Status</th>
<th>How it was computed</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<h2>Pictures</h2>
<div class="figs"><img id="age-chart" alt="pipe length by age band" src="{age_chart(check)}">
<img id="map" alt="map snapshot" src="{map_snapshot(store, check.year)}"></div>
{_trend_section(history or [])}
</body></html>
"""

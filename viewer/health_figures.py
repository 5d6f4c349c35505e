"""The pictures of the health-check report: pipe length by age band and the map.

Drawn with matplotlib (Agg, no display): the age chart as inline SVG (its
labels stay text, in the page and in the PDF printed from it), the map as a
PNG data URI, labelled in Chinese
first with English alongside (the WenQuanYi Micro Hei font, Debian's
``fonts-wqy-microhei``, draws the Chinese; matplotlib falls back to DejaVu
Sans where it is missing). The map is a plan of the twin CRS: polygons with
their holes (courtyards stay open), a legend, a scale bar and a north arrow
(grid north of the projected CRS).
"""

from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from typing import Any

import numpy as np

from twin.analysis.indicators import HealthCheck
from twin.numbers import is_whole_number
from twin.query import Query
from twin.store.base import TwinStore

#: Fonts tried in order: a CJK font first so that Chinese labels draw.
FONTS = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "DejaVu Sans"]
#: Bar colour of each network in the age chart (the catalogue's utility colours).
NETWORK_COLOURS = {"heating_renewal": "#d7191c", "gas_age": "#e6a100",
                   "water_supply_age": "#2b83ba"}
#: Series names of the age chart (Chinese / English).
SERIES = {"heating_renewal": "供热 heating", "gas_age": "燃气 gas",
          "water_supply_age": "供水 water supply"}


@contextmanager
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.sans-serif": FONTS, "font.family": "sans-serif",
                         "axes.unicode_minus": False}):
        yield plt


def _png(plt: Any, fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def age_series(check: HealthCheck) -> list[tuple[str, str, list[dict]]]:
    """``(key, name, bands)`` of every network with pipe ages: heating, gas,
    water supply (the indicators whose details hold age bands)."""
    out = []
    for ind in check.indicators:
        bands = ind.details.get("bands")
        if bands:
            out.append((ind.key, SERIES.get(ind.key, ind.title_zh), bands))
    return out


def _svg(plt: Any, fig: Any) -> str:
    """The figure as inline SVG, its text kept as text (a PDF printed from
    the page holds the labels as text, and they stay searchable)."""
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _band_start(band: str) -> int:
    head = band.rstrip("+").split("-")[0]
    return int(head) if is_whole_number(head) else 0


def age_chart(check: HealthCheck) -> str:
    """Bars of pipe length per age band, one colour per network (heating
    included), as inline SVG."""
    series = age_series(check)
    with _pyplot() as plt:
        fig, ax = plt.subplots(figsize=(7.2, 3.4))
        width = 0.8 / max(1, len(series))
        # every band of any network, youngest first, unknown last
        labels = sorted({b["band"] for _, _, bands in series for b in bands},
                        key=lambda band: (band == "unknown", _band_start(band)))
        for gi, (key, name, bands) in enumerate(series):
            xs = [labels.index(b["band"]) + gi * width for b in bands if b["band"] in labels]
            ax.bar(xs, [b["km"] for b in bands if b["band"] in labels], width,
                   label=name, color=NETWORK_COLOURS.get(key), gid=f"series-{key}")
        ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))],
                      [("未知 unknown" if b == "unknown" else b) for b in labels])
        ax.set_xlabel("运行年限（年） years in service")
        ax.set_ylabel("长度（公里） km")
        if series:
            ax.legend(fontsize=8)
        else:  # no data: say so instead of empty axes
            ax.text(0.5, 0.5, "无数据：孪生中没有带敷设年份的管道\n"
                    "no data: the twin has no pipes with an install year",
                    ha="center", va="center", transform=ax.transAxes, color="#9a6700")
        ax.set_title("各管网按管龄分段长度 Pipe length by age band")
        return _svg(plt, fig)


def _polygon_path(geom: Any) -> Any:
    """A matplotlib path of a (multi)polygon with its holes: rings as
    sub-paths, holes wound against their shell so that courtyards stay open."""
    from matplotlib.path import Path as MPath
    from shapely.geometry.polygon import orient

    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        # shells anticlockwise, holes clockwise: a hole stays open under the
        # non-zero winding rule Agg fills with (and under even-odd)
        poly = orient(poly, 1.0)
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            if len(xy) < 3:
                continue
            verts.append(xy)
            codes.append(np.r_[MPath.MOVETO, np.full(len(xy) - 2, MPath.LINETO),
                               MPath.CLOSEPOLY])
    if not verts:
        return None
    return MPath(np.concatenate(verts), np.concatenate(codes).astype(np.uint8))


def _fill(ax: Any, geom: Any, **style: Any) -> None:
    from matplotlib.patches import PathPatch

    path = _polygon_path(geom)
    if path is not None:
        ax.add_patch(PathPatch(path, **style))


def nice_length(span: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^n metres) near a fifth of ``span``."""
    target = max(span / 5, 1e-9)
    p = 10 ** np.floor(np.log10(target))
    return float(max(m * p for m in (1, 2, 5) if m * p <= target))


def _scale_bar_and_north(ax: Any, xmin: float, ymin: float, xmax: float, ymax: float) -> None:
    from matplotlib.patches import FancyArrow, Rectangle

    w, h = xmax - xmin, ymax - ymin
    length = nice_length(w)
    x0, y0 = xmin + 0.04 * w, ymin + 0.04 * h
    bar_h = 0.012 * h
    for k in range(2):  # a two-part black-and-white bar
        ax.add_patch(Rectangle((x0 + k * length / 2, y0), length / 2, bar_h,
                               facecolor="black" if k == 0 else "white", edgecolor="black",
                               lw=0.8, zorder=10))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0, y0 + 2 * bar_h, "0", fontsize=7, ha="center", zorder=10)
    ax.text(x0 + length, y0 + 2 * bar_h, label, fontsize=7, ha="center", zorder=10)
    ax.text(x0 + length / 2, y0 - 2.2 * bar_h, "比例尺 scale", fontsize=7, ha="center",
            va="top", zorder=10)
    ax_, ay = xmax - 0.06 * w, ymax - 0.16 * h
    ax.add_patch(FancyArrow(ax_, ay, 0, 0.09 * h, width=0.012 * w, head_width=0.035 * w,
                            head_length=0.035 * h, length_includes_head=True, color="black",
                            zorder=10, gid="north-arrow"))
    ax.text(ax_, ay + 0.1 * h, "北 N", ha="center", va="bottom", fontsize=9,
            fontweight="bold", zorder=10)


def trend_chart(history: list) -> str:
    """Small multiples: each indicator's value over the kept years (title in
    Chinese and English), the ones with a warning (预警) in red."""
    shown = [t for t in history if any(p[1] is not None for p in t.points)]
    cols = 3
    rows = max(1, -(-len(shown) // cols))
    with _pyplot() as plt:
        fig, axes = plt.subplots(rows, cols, figsize=(10, 2.2 * rows), squeeze=False)
        for ax in axes.flat[len(shown):]:
            ax.axis("off")
        for ax, t in zip(axes.flat, shown):
            pts = [(y, v) for y, v, _s in t.points if v is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                    color="#cf222e" if t.warnings else "#0969da")
            zh = getattr(t, "title_zh", "") or ""
            ax.set_title((zh + " " if zh else "") + t.title[:40]
                         + (" (预警 warning)" if t.warnings else ""), fontsize=8)
            ax.set_xticks([p[0] for p in pts])
            ax.tick_params(labelsize=7)
            ax.set_ylabel(t.unit[:20], fontsize=7)
        fig.tight_layout()
        return _png(plt, fig)


def map_snapshot(store: TwinStore, year: int, min_age: int = 20) -> str:
    """A plan map: land use and roads, buildings shaded by storeys (their
    courtyards open), heating pipes red where due for renewal, other pipes
    grey; legend, scale bar and north arrow."""
    import shapely
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with _pyplot() as plt:
        fig, ax = plt.subplots(figsize=(7.5, 7.5))
        for f in store.query(Query(layers=("roads", "landuse"))):
            if f.footprint is not None and f.footprint.geom_type in ("Polygon", "MultiPolygon"):
                _fill(ax, f.footprint, facecolor="#d9d9d9" if f.layer == "roads" else "#f3f0d8",
                      lw=0)
        cmap = plt.get_cmap("viridis")
        for f in store.query(Query(layers=("buildings",))):
            if f.footprint is None or f.footprint.geom_type not in ("Polygon", "MultiPolygon"):
                continue
            s = f.attributes.get("storeys") or 1
            _fill(ax, f.footprint, facecolor=cmap(min(s, 33) / 33), lw=0.2, edgecolor="#333")
        drawn = set()
        for f in store.query(Query(layers=("heating", "water_supply", "gas", "sewage"))):
            if f.footprint is None:
                continue
            xy = shapely.get_coordinates(f.footprint)
            old = f.layer == "heating" and \
                (f.attributes.get("install_year") or year) <= year - min_age
            kind = "old" if old else "heating" if f.layer == "heating" else "other"
            drawn.add(kind)
            ax.plot(xy[:, 0], xy[:, 1], color={"old": "#d7191c", "heating": "#f4a582",
                                               "other": "#999999"}[kind],
                    lw=1.6 if old else 0.6)
        ax.set_aspect("equal")
        ax.autoscale_view()
        xmin, xmax = ax.get_xlim()
        ymin, ymax = ax.get_ylim()
        _scale_bar_and_north(ax, xmin, ymin, xmax, ymax)
        handles: list[Artist] = [Patch(facecolor="#f3f0d8", label="用地 land use"),
                                 Patch(facecolor="#d9d9d9", label="道路 roads")]
        if "old" in drawn:
            handles.append(Line2D([], [], color="#d7191c", lw=1.6,
                                  label=f"运行{min_age}年以上供热管道 heating {min_age}+ years"))
        if "heating" in drawn:
            handles.append(Line2D([], [], color="#f4a582", lw=0.8, label="其他供热管道 heating"))
        if "other" in drawn:
            handles.append(Line2D([], [], color="#999999", lw=0.8,
                                  label="供水、燃气、排水管道 other pipes"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2,
                  fontsize=7, title="图例 legend", title_fontsize=8, frameon=False)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, 33))
        cb = fig.colorbar(sm, ax=ax, shrink=0.5, pad=0.02)
        cb.set_label("建筑层数 building storeys")
        ax.set_title(f"建筑层数与运行{min_age}年以上供热管道\n"
                     f"Buildings by storeys; heating pipes {min_age}+ years old in red",
                     fontsize=10)
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"{store.crs.name}（米 m）", fontsize=7)
        return _png(plt, fig)

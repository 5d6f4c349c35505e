"""The city health check (城市体检) as a document an office files: one
self-contained HTML page in Chinese first with English alongside, and a
print-ready PDF of it.

The page holds the indicator table (value, the plan's target where one
exists, status, how it was computed), the age chart of the pipe networks
(heating, gas, water supply) and the map (:mod:`viewer.health_figures`);
it opens anywhere offline. :func:`render_pdf` prints it to A4 with
Chromium (through Playwright), as a browser's "save as PDF" would.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from twin.analysis.indicators import MET, NO_DATA, NO_TARGET, NOT_MET, HealthCheck
from twin.errors import ExportError
from twin.store.base import TwinStore

from .health_figures import age_chart, map_snapshot, trend_chart

#: status -> (text in the Status column, row class)
_STATUS = {MET: ("✔ 达标 met", "ok"), NOT_MET: ("✘ 未达标 not met", "bad"),
           NO_DATA: ("无数据 no data", "nodata"), NO_TARGET: ("", "")}
#: Where Chromium is looked for (``TWIN_CHROMIUM`` first).
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
TITLE_ZH = "城市体检报告"
TITLE_EN = "City health check"

_CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", system-ui, sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; }
.en { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: 6px 8px; vertical-align: top; text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
td.num { text-align: right; white-space: nowrap; }
tr.ok td:nth-child(4) { color: #1a7f37; } tr.bad td:nth-child(4) { color: #cf222e; }
tr.nodata td:nth-child(4) { color: #9a6700; }
figure { margin: 1em 0; break-inside: avoid; }
figure svg, figure img { max-width: 100%; height: auto; }
@media print { body { margin: 0; max-width: none; } h2 { break-before: page; } }
"""


def _value(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}".rstrip("0").rstrip(".")


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
    return (f"<h2>趋势 Trends over the kept years</h2><table><thead><tr>"
            f"<th>指标 Indicator</th><th>历年值 Values</th><th>预警 Warning</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody>"
            f"</table><img id='trend-chart' alt='indicator trends' "
            f"src='{trend_chart(history)}'>")


def render_html(check: HealthCheck, store: TwinStore, *, title: str = TITLE_EN,
                history: list | None = None) -> str:
    """The report as one HTML document (Chinese first, English alongside; with
    ``history``, the trends of :func:`twin.analysis.trends.trends`)."""
    e = html.escape
    rows = []
    for i in check.indicators:
        status, css = _STATUS[i.status]
        target = (f"{e(i.target_zh or '')}<br><span class='en'>{e(i.target)}</span>"
                  if i.target else "-")
        note = f"<br><i>说明 note:</i> {e(i.note)}" if i.note else ""
        rows.append(
            f"<tr class='{css}' data-status='{e(i.status)}' data-key='{e(i.key)}'>"
            f"<td><b lang='zh'>{e(i.title_zh)}</b><br><span class='en'>{e(i.title)}</span></td>"
            f"<td class='num'>{e(_value(i.value))} {e(i.unit)}</td><td>{target}</td>"
            f"<td>{e(status)}</td><td><small>{e(i.formula)}<br><i>数据 data:</i> {e(i.data)}"
            f"<br><i>覆盖 coverage:</i> {e(i.coverage)}{note}</small></td></tr>")
    info = store.info()
    with_target = sum(1 for i in check.indicators if i.target)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{TITLE_ZH} {check.year} · {e(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{TITLE_ZH} {check.year}<br><span class="en">{e(title)} {check.year}</span></h1>
<p>孪生 twin: {e(Path(info.path).name)} · 坐标系 CRS {e(info.crs.name)} ·
{info.feature_count} 个要素 features · 新建建筑 new buildings: {check.new_since} 年及以后
built {check.new_since} or later · 县城 county town: {'是 yes' if check.county_town else '否 no'}
· {with_target} / {len(check.indicators)} 项指标有规划目标 indicators with a target in the plan</p>
<table><thead><tr><th>指标 Indicator</th><th>数值 Value</th><th>目标 Target</th>
<th>状态 Status</th><th>计算方法 How it was computed</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<h2>图 Figures</h2>
<figure id="age-chart">{age_chart(check)}
<figcaption>各管网按管龄分段长度（供热、燃气、供水） Pipe length by age band (heating, gas,
water supply)</figcaption></figure>
<figure><img id="map" alt="地图 map" src="{map_snapshot(store, check.year)}">
<figcaption>地图（网格北，比例尺见图内） Map (grid north; scale bar in the map)</figcaption>
</figure>
{_trend_section(history or [])}
</body></html>
"""


def chromium_path() -> str:
    """Chromium for printing: ``$TWIN_CHROMIUM``, else a system install."""
    env = os.environ.get("TWIN_CHROMIUM")
    if env:
        if not Path(env).is_file():
            raise ExportError(f"TWIN_CHROMIUM={env}: no such file")
        return env
    for p in CHROMIUM_PATHS:
        if Path(p).is_file():
            return p
    raise ExportError("the PDF report needs Chromium: install it (Debian: apt-get install "
                      "chromium) or set TWIN_CHROMIUM to its path; the HTML report was written")


def render_pdf(page_html: str, out: str | Path) -> Path:
    """Print ``page_html`` to an A4 PDF at ``out`` with Chromium (backgrounds
    and colours kept, the table header repeated on each page)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ExportError("the PDF report needs the playwright package "
                          "(pip install playwright)") from exc
    exe = chromium_path()
    out = Path(out)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--headless",
                                                                   "--no-sandbox"])
            try:
                page = browser.new_page()
                page.set_content(page_html, wait_until="load")
                page.emulate_media(media="print")
                page.pdf(path=str(out), format="A4", print_background=True,
                         prefer_css_page_size=True)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise ExportError(f"{out}: Chromium ({exe}) could not print the report: {exc}") from exc
    return out

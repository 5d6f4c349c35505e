"""The health-check report an office files: Chinese first with English alongside,
the plan's targets, heating in the age chart, a map whose courtyards stay open,
and a print-ready PDF (read back with pypdf)."""

from __future__ import annotations

import numpy as np
import pypdf
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Polygon

from twin.analysis.indicators import health_check
from twin_cli.main import cli
from viewer.health_figures import _fill, age_series, nice_length


@pytest.fixture(scope="module")
def report(demo_gpkg, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    r = CliRunner().invoke(cli, ["health-check", str(demo_gpkg), "--year", "2025",
                                 "--out", str(out), "--pdf"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return out, out.with_suffix(".pdf")


def test_pdf_next_to_the_html_has_the_chinese_title_and_the_heating_series(report):
    html_path, pdf_path = report
    assert pdf_path.is_file() and pdf_path.read_bytes()[:5] == b"%PDF-"
    reader = pypdf.PdfReader(pdf_path)
    assert len(reader.pages) >= 2
    text = "".join(p.extract_text() for p in reader.pages)
    assert text.lstrip().startswith("城市体检报告 2025")
    # the age chart is vector: its legend prints as text, heating among the networks
    for series in ("供热 heating", "燃气 gas", "供水 water supply"):
        assert series in text, series
    assert "各管网按管龄分段长度" in text


def test_html_is_chinese_first_with_targets_from_the_plan(report, demo_gpkg):
    import twin

    page = report[0].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page
    assert page.index("城市体检报告") < page.index("City health check")
    with twin.open_twin(demo_gpkg, readonly=True) as store:
        check = health_check(store, year=2025)
    for ind in check.indicators:
        row = page[page.index(f"data-key='{ind.key}'"):]
        row = row[:row.index("</tr>")]
        assert row.index(ind.title_zh) < row.index(ind.title.split("'")[0])
        if ind.target:
            assert ind.target_zh and ind.target_zh in row
    targets = {i.key for i in check.indicators if i.target}
    assert {"heating_renewal", "gas_age", "water_supply_age", "road_density",
            "green_building_share", "prefabricated_share", "clearance_violations"} <= targets
    # the heating series is a group of bars in the age chart
    assert 'id="series-heating_renewal"' in page
    assert [k for k, _, _ in age_series(check)] == ["heating_renewal", "gas_age",
                                                     "water_supply_age"]


def test_age_chart_has_every_band_of_every_network():
    from twin.analysis.indicators import HealthCheck, Indicator
    from viewer.health_figures import age_chart

    def ind(key, bands):
        return Indicator(key, key, key, 1.0, "%", "", "", "", details={
            "bands": [{"band": b, "segments": 1, "km": 1.0} for b in bands]})

    check = HealthCheck(2025, 2020, False, (ind("heating_renewal", ["0-9", "10-19"]),
                                            ind("gas_age", ["40+", "unknown", "0-9"])))
    svg = age_chart(check)
    ticks = [t for t in ("0-9", "10-19", "40+", "未知 unknown") if f">{t}<" in svg]
    assert ticks == ["0-9", "10-19", "40+", "未知 unknown"]
    assert svg.index(">0-9<") < svg.index(">10-19<") < svg.index(">40+<")
    assert 'id="series-heating_renewal"' in svg and 'id="series-gas_age"' in svg


def _drawn(poly: Polygon) -> np.ndarray:
    """The polygon filled black on white as the map fills it, as RGB pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    _fill(ax, poly, facecolor="black", lw=0)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[:, :, :3]
    plt.close(fig)
    return img


def test_courtyards_stay_open_on_the_map():
    shell = [(0, 0), (10, 0), (10, 10), (0, 10)]
    hole = [(3, 3), (7, 3), (7, 7), (3, 7)]
    # a hole wound like its shell (as files have them) and one wound against it
    for h in (hole, hole[::-1]):
        img = _drawn(Polygon(shell, [h]))
        assert img[90, 10].max() < 50  # the block (row 90 = y 1, column 10 = x 1)
        assert img[50, 50].min() > 200  # the courtyard: white


@given(st.floats(1.0, 1e6))
def test_scale_bar_is_a_round_length_near_a_fifth_of_the_map(span):
    length = nice_length(span)
    mantissa = length / 10 ** int(f"{length:e}".split("e")[1])
    assert round(mantissa, 9) in (1.0, 2.0, 5.0)
    assert span / 12.5 <= length <= span / 5 * (1 + 1e-9)

"""``twin health-check``: the city health check (城市体检), kept per year,
with trends, warnings and the evaluation of a period."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

import twin

from .options import TWIN, as_of_option, dated
from .output import STATUS_STYLE, console, styled


@click.command("health-check")
@click.argument("path", type=TWIN)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the HTML report here (tables, charts, map, trends).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write the indicators as JSON here ('-' for stdout).")
@click.option("--year", type=int, default=None, help="Year of the check (default: this year).")
@click.option("--new-since", type=int, default=None,
              help="First build year of 'new' buildings (default: year - 5).")
@click.option("--county-town", is_flag=True, help="Apply the county-town targets (<= 18 "
              "storeys, >= 70% of new housing floor area at <= 6 storeys).")
@click.option("--main-city", is_flag=True, help="Apply the 40% prefabrication target.")
@click.option("--save", is_flag=True,
              help="Keep this run in the twin as the check of its year (replacing an "
                   "earlier run of that year); the report then shows every indicator's trend "
                   "over the kept years and warns (预警) where one got worse or crossed its "
                   "target.")
@click.option("--evaluate", default=None, metavar="FIRST:LAST",
              help="Also print the evaluation of a period of kept years (五年一评估): each "
                   "indicator in its first and last year, the change, better or worse.")
@click.option("--pdf", "pdf", is_flag=True, help="Also print the report to a PDF next to the "
              "HTML (the --out name with .pdf; A4, printed by Chromium).")
@as_of_option
def health_check_cmd(path: str, out_path: str | None, json_path: str | None, year: int | None,
                     new_since: int | None, county_town: bool, main_city: bool, save: bool,
                     evaluate: str | None, pdf: bool, as_of: str | None) -> None:
    """Compute the city health check (城市体检) indicators of a twin (with
    --as-of: of the twin as it was then, e.g. last year's check again); with
    --out, the report (Chinese first, English alongside) as HTML, and with
    --pdf as PDF."""
    import datetime

    if pdf and not out_path:
        raise click.UsageError("--pdf prints the HTML report: give --out report.html too")

    from twin.analysis.indicators import health_check
    from twin.analysis.trends import trends

    year = year or datetime.date.today().year
    period = _period(evaluate) if evaluate else None
    with twin.open_twin(path, readonly=not save) as opened:
        store = dated(opened, as_of)
        check = health_check(store, year=year, new_since=new_since, county_town=county_town,
                             main_city=main_city)
        if save:
            opened.save_health_check(year, check.to_dict(), getattr(store, "as_of", None))
        kept = [h["report"] for h in opened.health_checks()]
        if not any(int(k["year"]) == year for k in kept):
            kept.append(check.to_dict())
        history = trends(kept) if len(kept) > 1 else []
        if out_path:
            from viewer.health_report import render_html

            page = render_html(check, store, history=history)
            Path(out_path).write_text(page, encoding="utf-8")
    if json_path:
        doc = check.to_dict()
        if history:
            doc["trends"] = [t.to_dict() for t in history]
        text = json.dumps(doc, indent=2, ensure_ascii=False, default=str)
        if json_path == "-":
            click.echo(text)
            return
        Path(json_path).write_text(text, encoding="utf-8")
    _print_check(check, history)
    if period:
        _print_evaluation(kept, *period)
    if out_path:
        click.echo(f"report written to {out_path}")
    if pdf and out_path:
        from viewer.health_report import render_pdf

        pdf_path = render_pdf(page, Path(out_path).with_suffix(".pdf"))
        click.echo(f"PDF written to {pdf_path}")


def _period(text: str) -> tuple[int, int]:
    a, sep, b = text.partition(":")
    try:
        first, last = int(a), int(b)
    except ValueError:
        raise click.BadParameter(f"--evaluate must be FIRST:LAST years, got {text!r}") from None
    if not sep or first > last:
        raise click.BadParameter(f"--evaluate must be FIRST:LAST years, got {text!r}")
    return first, last


def _print_check(check, history) -> None:
    warn = {t.key: t for t in history}
    t = Table("indicator", "value", "target", "status", "coverage",
              *(("trend", "warning") if history else ()))
    for i in check.indicators:
        row = [i.title, "n/a" if i.value is None else f"{i.value:g} {i.unit}",
               i.target or "", styled(i.status if i.status in STATUS_STYLE else "",
                                      STATUS_STYLE.get(i.status, "")), i.coverage]
        if history:
            tr = warn.get(i.key)
            pts = tr.points if tr else ()
            row.append(" → ".join(f"{y}: {'n/a' if v is None else f'{v:g}'}"
                                  for y, v, _s in pts))
            row.append(styled("预警 " + ", ".join(tr.warnings), "bold red")
                       if tr and tr.warnings else "")
        t.add_row(*row)
    console().print(t)


def _print_evaluation(kept, first: int, last: int) -> None:
    from twin.analysis.trends import evaluation

    rows = evaluation(kept, first, last)
    t = Table("indicator", "from", "to", "change", "verdict",
              title=f"evaluation {first}-{last} (五年一评估)")
    for r in rows:
        if r["from"] is None:
            t.add_row(r["title"], "n/a", "n/a", "", "no data")
            continue
        verdicts: dict[bool | None, Text | str] = {
            True: styled("better", "green"), False: styled("worse", "bold red"), None: "same"}
        verdict = verdicts[r["better"]]
        t.add_row(r["title"], f"{r['from']:g} ({r['from_year']})", f"{r['to']:g} "
                  f"({r['to_year']})", f"{r['change']:+g} {r['unit']}", verdict)
    if not rows:
        t.add_row("no kept health check in this period", "", "", "", "")
    console().print(t)

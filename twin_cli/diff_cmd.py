"""``twin diff``: what changed between two moments of a twin, or two twins."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

import twin

from .options import TWIN
from .output import console, styled


@click.command("diff")
@click.argument("first", type=TWIN)
@click.argument("second", type=TWIN, required=False)
@click.option("--from", "from_", default=None, metavar="DATE|BATCH",
              help="The first side as it was then (one twin: default the batch before the "
                   "last).")
@click.option("--to", "to", default=None, metavar="DATE|BATCH",
              help="The second side as it was then (default: now).")
@click.option("--tolerance", default=0.01, show_default=True, type=click.FloatRange(0),
              help="Metres: geometry that moved or changed shape by less is unchanged.")
@click.option("--layer", "layers", multiple=True, help="Only these layers (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "geojson"]),
              default="table", show_default=True,
              help="table (counts and changes), json (the change set), geojson (a "
                   "FeatureCollection of the changes in the twin CRS).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write json/geojson here instead of standard output.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write an HTML report (counts, a map, the changes) here.")
def diff(first, second, from_, to, tolerance, layers, fmt, out_path, html_path) -> None:
    """Compare FIRST as of --from with SECOND (or FIRST again) as of --to:
    features added, removed and changed per layer, by their stable ids (IFC
    revisions by GlobalId), with the attributes that changed and how far
    geometry moved or changed shape.

    \b
    Examples:
      twin diff city.gpkg --from 2024-12-31            # last year to now
      twin diff city.gpkg --from 3 --to 5 --html changes.html
      twin diff district_2024.gpkg district_2025.gpkg --format geojson --out changes.geojson
    """
    from twin.diff import diff_twins
    from twin.store import resolve_as_of

    with twin.open_twin(first, readonly=True) as a:
        b_store = twin.open_twin(second, readonly=True) if second else a
        try:
            if second is None and from_ is None:
                done = [b.id for b in a.batches()]
                if len(done) < 1:
                    raise click.UsageError(f"{first} holds no import batch to compare")
                from_ = str(done[-2]) if len(done) > 1 else "0"
            ba, bb = resolve_as_of(a, from_), resolve_as_of(b_store, to)
            left, right = a.at(ba), b_store.at(bb)
            cs = diff_twins(left, right, tolerance=tolerance, layers=layers,
                            first_name=_name(first, ba), second_name=_name(second or first, bb))
            code = a.crs.to_epsg()
            crs = f"urn:ogc:def:crs:EPSG::{code}" if code else None
        finally:
            if second:
                b_store.close()
    if html_path:
        from viewer.diff_report import render_html

        Path(html_path).write_text(render_html(cs), encoding="utf-8")
    if fmt in ("json", "geojson"):
        doc = cs.to_dict() if fmt == "json" else cs.to_geojson(crs)
        text = json.dumps(doc, ensure_ascii=False, default=str)
        if out_path:
            Path(out_path).write_text(text, encoding="utf-8")
        else:
            click.echo(text)
    else:
        _print(cs)
    if html_path:
        click.echo(f"report written to {html_path}", err=True)


def _name(location: str, batch: int | None) -> str:
    return location if batch is None else f"{location} as of batch {batch}"


def _print(cs) -> None:
    out = console()
    t = Table("layer", "added", "removed", "changed")
    for layer, n in cs.counts().items():
        t.add_row(layer, styled(str(n["added"]), "green"), styled(str(n["removed"]), "red"),
                  styled(str(n["changed"]), "yellow"))
    out.print(f"{cs.first} -> {cs.second}: {len(cs.changes)} changes, {cs.unchanged} "
              "unchanged")
    out.print(t)
    t = Table("id", "layer", "change", "what", "moved m")
    for c in cs.changes[:200]:
        t.add_row(c.id, c.layer, c.kind, ", ".join(c.what), f"{c.moved:.2f}")
    if cs.changes:
        out.print(t)
    if len(cs.changes) > 200:
        out.print(f"... {len(cs.changes) - 200} more (--format json lists them all)")


@click.command("history")
@click.argument("path", type=TWIN)
@click.argument("feature_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(path, feature_id, as_json) -> None:
    """Every version of one feature: from which import (and time) until which,
    with what changed from the version before.

    \b
    Example:
      twin history city.gpkg hohhot:B-0007
    """
    from twin.diff import compare

    with twin.open_twin(path, readonly=True) as store:
        versions = store.versions_of(feature_id)
    if not versions:
        raise click.ClickException(f"feature {feature_id!r} was never in {path}")
    rows = []
    for i, v in enumerate(versions):
        what = compare(versions[i - 1]["feature"], v["feature"], 0.01)[0] if i else ["added"]
        if v["retired_batch"] is not None and (i == len(versions) - 1):
            what = [*what, "then retired"]
        rows.append({"batch": v["batch"], "valid_from": v["valid_from"],
                     "retired_batch": v["retired_batch"], "valid_to": v["valid_to"],
                     "changes": what})
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    t = Table("batch", "valid from", "until batch", "valid to", "changes")
    for r in rows:
        t.add_row(str(r["batch"]), r["valid_from"] or "", str(r["retired_batch"] or "now"),
                  r["valid_to"] or "", ", ".join(r["changes"]))
    console().print(t)

"""``twin edits``: edits saved from QGIS/GDAL into a twin's layer views,
recorded and then applied as one validated import batch."""

from __future__ import annotations

import json

import click
from rich.table import Table

import twin

from .options import TWIN
from .output import console, err_console


@click.group("edits")
def edits() -> None:
    """Edit a twin's layers in QGIS (or any GDAL client).

    \b
      twin edits enable city.gpkg --layers buildings   # views record edits
      (edit and save in QGIS)
      twin edits list city.gpkg                         # what was saved
      twin edits apply city.gpkg                        # one import batch
      twin batches city.gpkg --remove N                 # undo it

    By default the layers refuse writes. In edit mode a save records each
    edit as pending; 'apply' validates them (geometry type, typed attributes,
    placement) and turns them into one batch (converter 'gis-edits'):
    updates become new feature versions, inserts new features, deletes
    retire features. Works on GeoPackage and PostGIS twins."""


@edits.command("enable")
@click.argument("path", type=TWIN)
@click.option("--layers", "layer_names", multiple=True, metavar="LAYER",
              help="A layer to put in edit mode (repeatable; default: every layer).")
def enable(path: str, layer_names: tuple[str, ...]) -> None:
    """Make layers record the edits GIS clients save into them."""
    from twin.store.edits import store_enable

    with twin.open_twin(path) as store:
        names = store_enable(store, list(layer_names) or None)
    click.echo(f"edit mode on for {', '.join(names)}: edits saved into these layers are "
               "recorded; apply them with 'twin edits apply'")


@edits.command("disable")
@click.argument("path", type=TWIN)
@click.option("--discard", is_flag=True, help="Drop pending edits (otherwise refused).")
def disable(path: str, discard: bool) -> None:
    """Make every layer read-only again (the default)."""
    from twin.store.edits import store_disable

    with twin.open_twin(path) as store:
        n = store_disable(store, discard)
    click.echo("layers are read-only again" + (f"; {n} pending edit(s) discarded" if n else ""))


@edits.command("list")
@click.argument("path", type=TWIN)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(path: str, as_json: bool) -> None:
    """Show the pending edits (and why an earlier apply refused some)."""
    from twin.store.edits import store_pending

    with twin.open_twin(path, readonly=True) as store:
        rows = store_pending(store)
    if as_json:
        click.echo(json.dumps([{"edit": e.id, "layer": e.layer, "op": e.op, "fid": e.fid,
                                "feature_id": e.feature_id, "geometry_changed": e.geom_changed,
                                "changed": _changes(e), "recorded": e.recorded,
                                "refused": e.refused} for e in rows], indent=2,
                              ensure_ascii=False, default=str))
        return
    t = Table("edit", "layer", "op", "feature", "changes", "recorded", "refused",
              title=f"{len(rows)} pending edit(s)")
    for e in rows:
        t.add_row(str(e.id), e.layer, e.op, e.feature_id or (f"fid {e.fid}" if e.fid else "(new)"),
                  ", ".join(f"{k}={v!r}" for k, v in _changes(e).items())
                  + (" geometry" if e.geom_changed else ""), e.recorded, e.refused or "")
    console().print(t)


def _changes(e) -> dict:
    if e.op == "delete":
        return {}
    return {k: v for k, v in e.new.items() if v is not None and v != e.old.get(k)}


@edits.command("apply")
@click.argument("path", type=TWIN)
@click.option("--strict", is_flag=True,
              help="Apply nothing when any edit is refused (default: apply the valid ones).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def apply(path: str, strict: bool, as_json: bool) -> None:
    """Turn all pending edits into one validated import batch."""
    from converters.gis_edits import apply_edits

    with twin.open_twin(path) as store:
        r = apply_edits(store, strict=strict)
    if as_json:
        click.echo(json.dumps(r.as_dict(), indent=2, ensure_ascii=False))
        return
    batch = f"batch {r.batch}" if r.batch else (
        "no batch (nothing applied)" if r.refused else "no batch (nothing changed)")
    click.echo(f"{batch}: {r.changed} changed, {r.added} added, {r.retired} retired, "
               f"{r.unchanged} unchanged, {len(r.refused)} refused")
    for why in r.refused.values():
        err_console.print(f"refused (left pending): {why}")


@edits.command("discard")
@click.argument("path", type=TWIN)
def discard(path: str) -> None:
    """Drop every pending edit."""
    from twin.store.edits import store_discard

    with twin.open_twin(path) as store:
        n = store_discard(store)
    click.echo(f"discarded {n} pending edit(s)")

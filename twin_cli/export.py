"""``twin export``: the twin, or a selection of it, to city-model formats."""

from __future__ import annotations

import time

import click

import twin

from .options import TWIN, as_of_option, dated, parse_box2d
from .output import err_console as _err
from .output import progress as progress_bar


@click.command()
@click.argument("path", type=TWIN)
@click.option("--format", "fmt", type=click.Choice(["cityjson", "cityjsonseq", "3dtiles"]),
              default="cityjson", show_default=True,
              help="CityJSON 2.0 (one document), CityJSONSeq (one feature per line) or "
                   "3D Tiles 1.1 (a directory: tileset.json and GLB tiles).")
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="File to write (.city.json or .city.jsonl), or the 3D Tiles directory.")
@click.option("--tile-features", default=1500, show_default=True, type=click.IntRange(10),
              help="3D Tiles: most features in one tile.")
@click.option("--layer", "layers_", multiple=True, help="Only these layers (repeatable).")
@click.option("--id", "ids", multiple=True, help="Only these features (repeatable).")
@click.option("--where", "wheres", multiple=True, metavar="EXPR", help="Attribute filter.")
@click.option("--bbox", default=None, metavar="XMIN,YMIN,XMAX,YMAX", help="2D box (twin CRS).")
@as_of_option
def export(path, fmt, out_path, tile_features, layers_, ids, wheres, bbox, as_of) -> None:
    """Export the twin at PATH (or the selected features) to CityJSON 2.0 or
    CityJSONSeq: schema-valid, with the twin CRS, semantic surfaces, every
    LoD and the hierarchy; importing the file gives back the same features.
    Each object gets the geometry types its CityJSON type allows (a
    TINRelief a CompositeSurface, a LandUse no Solid); points and lines on
    types that cannot hold them are left out, and counted.

    With --format 3dtiles, a 3D Tiles 1.1 tileset for browsers and GIS clients
    (CesiumJS, the web viewer with 'twin serve --tiles DIR'): a quadtree of
    GLB tiles with feature ids, placed on the globe (EPSG:4978).

    With --as-of, the twin as it was then (CityJSON formats)."""
    if fmt == "3dtiles" and as_of is not None:
        raise click.UsageError("--as-of exports CityJSON; 3D Tiles are made of the twin now")
    if fmt == "3dtiles":
        return _export_tiles(path, out_path, layers_, tile_features, bool(ids or wheres or bbox))
    from converters.cityjson_export import export_cityjson

    q = twin.Query(ids=ids, layers=layers_, filters=wheres,
                   bbox=parse_box2d(bbox) if bbox else None)
    t0 = time.perf_counter()
    with twin.open_twin(path, readonly=True) as opened, progress_bar() as bar:
        store = dated(opened, as_of)
        task = bar.add_task(f"export {fmt}", total=None)
        rep = export_cityjson(store, out_path, q, seq=fmt == "cityjsonseq",
                              progress=lambda d, t: bar.update(task, completed=d, total=t))
    types = ", ".join(f"{k} {v}" for k, v in sorted(rep["by_type"].items()))
    _err.print(f"wrote {rep['objects']} city objects to {out_path} in "
               f"{time.perf_counter() - t0:.1f} s ({types or 'none'})", highlight=False,
               markup=False)
    if rep["left_out"]:
        what = ", ".join(f"{v} {k}" for k, v in sorted(rep["left_out"].items()))
        _err.print(f"left out {what}: geometries that the CityJSON type of their object "
                   "cannot hold (points or lines on a building, a land use or a relief)",
                   style="yellow", highlight=False, markup=False)


def _export_tiles(path: str, out_dir: str, layers: tuple[str, ...], max_features: int,
                  selected: bool) -> None:
    from viewer.tiles3d import export_3dtiles

    if selected:
        raise click.BadParameter("3D Tiles cover whole layers: --id, --where and --bbox do "
                                 "not apply (use --layer)")
    t0 = time.perf_counter()
    with twin.open_twin(path, readonly=True) as store, progress_bar() as bar:
        task = bar.add_task("3D Tiles", total=None)
        rep = export_3dtiles(store, out_dir, layers=layers, max_features=max_features,
                             progress=lambda d, t: bar.update(task, completed=d, total=t))
    _err.print(f"wrote {out_dir}/tileset.json: {rep.tiles} tiles in {rep.levels} levels, "
               f"{rep.features} features, {rep.bytes / 1e6:.1f} MB in "
               f"{time.perf_counter() - t0:.1f} s"
               + (f"; {rep.skipped} features without a mesh left out" if rep.skipped else ""),
               highlight=False)

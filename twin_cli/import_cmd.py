"""``twin import``: source files into a twin, each file one transaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import twin

from .options import TWIN, field_mapping, floats
from .output import console, print_notes, styled
from .output import progress as progress_bar


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--twin", "twin_path", required=True, type=TWIN,
              help="The twin to import into.")
@click.option("--crs", default=None, help="CRS of the input, overriding what the file says.")
@click.option("--format", "fmt", default=None, help="Converter name (default: by extension).")
@click.option("--layer", default=None, help="Layer for features that name none.")
@click.option("--id-prefix", default=None, help="Prefix of the feature ids (default: by source).")
@click.option("--points", "points", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Survey tables: the point table that goes with a line table.")
@click.option("--profile", default=None,
              help="Field-mapping profile: survey tables 'cjj61' (default), GIS line layers "
                   "'gis' (default), or a .toml file of the same form.")
@click.option("--field", "fields", multiple=True, metavar="KEY=COLUMN",
              help="GIS line layers: the column of one field (id, layer, code, diameter, size, "
                   "width, height, material, year, depth, pressure, owner, start, end, name); "
                   "repeatable, overrides the profile.")
@click.option("--source-layer", default=None,
              help="GIS files with several layers (GeoPackage): the layer to read.")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Ground heights from this DEM raster (GeoTIFF...) where a pipe or point "
                   "has none; the terrain layer fills the DEM's gaps.")
@click.option("--dem-crs", default=None, help="CRS of the DEM when its file names none.")
@click.option("--snap", type=float, default=None, metavar="METRES",
              help="GIS line layers: join line ends closer than this into network nodes.")
@click.option("--origin", default=None, metavar="X,Y[,Z]",
              help="IFC: where the model's local origin lies (in --crs, else the twin CRS); "
                   "overrides the file's georeferencing.")
@click.option("--rotation", type=float, default=None, metavar="DEG",
              help="IFC, with --origin: angle of the local X axis from east, anticlockwise.")
@click.option("--utility", default=None, metavar="CODE",
              help="IFC: CJJ 61 code (JS, PS, YS, WS, RQ, RL, DL, TX, GY) for pipes whose "
                   "system has no known type.")
@click.option("--kernels", default=None, metavar="K1,K2",
              help="IFC: geometry kernel chain, fast first (default manifold,opencascade).")
@click.option("--replace", is_flag=True,
              help="Replace features whose ids already exist (no history kept).")
@click.option("--update", is_flag=True,
              help="Update by identity: features whose ids exist get a new version when they "
                   "changed (the earlier one is kept, see --as-of), none when not; a delivery "
                   "that changes nothing records no batch.")
@click.option("--retire-missing", type=click.Choice(["layers", "extent"]), default=None,
              help="With --update: retire the current features of the delivery's layers "
                   "(layers), or of those layers wholly inside its plan extent (extent), "
                   "that the delivery no longer holds.")
@click.option("--strict", is_flag=True, help="Fail on the first element that cannot be converted.")
@click.option("--force", is_flag=True,
              help="Import even what the placement check refuses (far outside the twin CRS's "
                   "area of use, or implausibly large); the summary keeps a warning.")
@click.option("--json", "as_json", is_flag=True, help="Print the import reports as JSON.")
def import_(files: tuple[str, ...], twin_path: str, crs: str | None, fmt: str | None,
            layer: str | None, id_prefix: str | None, points: str | None, profile: str | None,
            fields: tuple[str, ...], source_layer: str | None, dem: str | None,
            dem_crs: str | None, snap: float | None, origin: str | None,
            rotation: float | None, utility: str | None, kernels: str | None, replace: bool,
            update: bool, retire_missing: str | None, strict: bool, force: bool,
            as_json: bool) -> None:
    """Import source files into a twin, each as one transaction (batch).

    A file that fails leaves the twin exactly as it was; elements that cannot
    be converted are skipped, counted and listed (unless --strict); a file
    whose every element is skipped fails. Every import is checked against
    the twin CRS's area of use and plausible sizes: a file that lands far
    away (a wrong CRS, millimetres, a default site latitude) is refused
    unless --force.

    \b
    Formats (by extension, .inp and .xml also by content):
      .geojson              GIS layers (layer/utility properties, --layer, --snap);
                            survey tables with --points (CJJ 61 or --profile)
      .shp .gpkg .fgb ...   GIS pipe line layers (any OGR format; --field, --profile,
                            --source-layer, --snap); ids generated when no id column
      .csv .gpkg .shp .dbf  pipeline survey tables (--points, --profile cjj61); a GIS
                            file of points, or of lines with --points, is a survey
      .inp                  EPANET water models, SWMM sewer models
      .xml                  LandXML 1.2 / Inframodel pipe networks
      .city.json .json      CityJSON 1.0, 1.1, 2.0 city models (CRS from the file)
      .city.jsonl .jsonl    CityJSONSeq, streamed feature by feature
      .ifc                  IFC2X3, IFC4, IFC4X3 buildings and pipe systems
                            (georeferenced from the file, or --origin/--rotation)
    """
    from converters import import_file

    if replace and update:
        raise click.UsageError("--replace and --update exclude each other")
    if retire_missing and not update:
        raise click.UsageError("--retire-missing needs --update")
    given = (("layer", layer), ("id_prefix", id_prefix), ("points", points),
             ("profile", profile), ("snap", snap), ("rotation", rotation),
             ("source_layer", source_layer), ("dem", dem), ("dem_crs", dem_crs),
             ("utility", utility))
    options: dict[str, Any] = {k: v for k, v in given if v is not None}
    if fields:
        options["fields"] = field_mapping(fields)
    if origin is not None:
        options["origin"] = floats(origin, (2, 3), "--origin")
    if kernels is not None:
        options["kernels"] = tuple(k.strip() for k in kernels.split(",") if k.strip())
    results = []
    with twin.open_twin(twin_path) as store, progress_bar(disable=as_json) as bar:
        for f in files:
            task = bar.add_task(Path(f).name, total=None)

            def progress(done: int, total: int | None, _t=task) -> None:
                bar.update(_t, completed=done, total=total)

            res = import_file(store, f, crs=crs, format=fmt, options=options,
                              on_conflict="update" if update else
                              "replace" if replace else "error", strict=strict,
                              force=force, progress=progress, retire_missing=retire_missing)
            bar.remove_task(task)
            results.append(res)
            if not as_json:
                _print_import(res)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False,
                              default=str))


def _print_import(res: Any) -> None:
    out = console(soft_wrap=True)
    if res.batch_id == 0:
        out.print(styled("unchanged", "bold green"), f"{res.source}: nothing changed, no batch "
                  f"recorded ({res.seconds:.2f} s, converter {res.converter})")
    else:
        out.print(styled("imported", "bold green"), f"{res.source}: {res.features} features in "
                  f"{res.seconds:.2f} s (batch {res.batch_id}, converter {res.converter})")
    print_notes(out, res.notes)

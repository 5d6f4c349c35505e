"""``twin import``: source files into a twin, each file one transaction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import twin

from .options import TWIN, floats
from .output import err_console, print_notes


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
              help="Survey tables: field-mapping profile, 'cjj61' (default) or a .toml file.")
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
@click.option("--replace", is_flag=True, help="Replace features whose ids already exist.")
@click.option("--strict", is_flag=True, help="Fail on the first element that cannot be converted.")
@click.option("--json", "as_json", is_flag=True, help="Print the import reports as JSON.")
def import_(files: tuple[str, ...], twin_path: str, crs: str | None, fmt: str | None,
            layer: str | None, id_prefix: str | None, points: str | None, profile: str | None,
            dem: str | None, dem_crs: str | None, snap: float | None, origin: str | None,
            rotation: float | None, utility: str | None, kernels: str | None, replace: bool, strict: bool,
            as_json: bool) -> None:
    """Import source files into a twin, each as one transaction (batch).

    A file that fails leaves the twin exactly as it was; elements that cannot
    be converted are skipped, counted and listed (unless --strict).

    \b
    Formats (by extension, .inp and .xml also by content):
      .geojson              GIS layers (layer/utility properties, --layer, --snap);
                            survey tables with --points (CJJ 61 or --profile)
      .csv .gpkg .shp .dbf  pipeline survey tables (--points, --profile cjj61)
      .fgb                  (FlatGeobuf too)
      .inp                  EPANET water models, SWMM sewer models
      .xml                  LandXML 1.2 / Inframodel pipe networks
      .city.json .json      CityJSON 1.0, 1.1, 2.0 city models (CRS from the file)
      .city.jsonl .jsonl    CityJSONSeq, streamed feature by feature
      .ifc                  IFC2X3, IFC4, IFC4X3 buildings and pipe systems
                            (georeferenced from the file, or --origin/--rotation)
    """
    from converters import import_file

    options = {k: v for k, v in (("layer", layer), ("id_prefix", id_prefix), ("points", points),
                                 ("profile", profile), ("snap", snap), ("rotation", rotation),
                                 ("dem", dem), ("dem_crs", dem_crs),
                                 ("utility", utility)) if v is not None}
    if origin is not None:
        options["origin"] = floats(origin, (2, 3), "--origin")
    if kernels is not None:
        options["kernels"] = tuple(k.strip() for k in kernels.split(",") if k.strip())
    results = []
    with twin.open_twin(twin_path) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err_console, transient=True, disable=as_json,
    ) as bar:
        for f in files:
            task = bar.add_task(Path(f).name, total=None)

            def progress(done: int, total: int | None, _t=task) -> None:
                bar.update(_t, completed=done, total=total)

            res = import_file(store, f, crs=crs, format=fmt, options=options,
                              on_conflict="replace" if replace else "error", strict=strict,
                              progress=progress)
            bar.remove_task(task)
            results.append(res)
            if not as_json:
                _print_import(res)
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in results], indent=2, ensure_ascii=False,
                              default=str))


def _print_import(res: Any) -> None:
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"[bold green]imported[/] {escape(res.source)}: {res.features} features in "
              f"{res.seconds:.2f} s (batch {res.batch_id}, converter {res.converter})")
    print_notes(out, res.notes)

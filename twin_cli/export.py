"""``twin export``: the twin, or a selection of it, to city-model formats."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import twin

from .options import floats

_err = Console(stderr=True, soft_wrap=True)


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["cityjson", "cityjsonseq"]),
              default="cityjson", show_default=True,
              help="CityJSON 2.0 (one document) or CityJSONSeq (one feature per line).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write (.city.json or .city.jsonl).")
@click.option("--layer", "layers_", multiple=True, help="Only these layers (repeatable).")
@click.option("--id", "ids", multiple=True, help="Only these features (repeatable).")
@click.option("--where", "wheres", multiple=True, metavar="EXPR", help="Attribute filter.")
@click.option("--bbox", default=None, metavar="XMIN,YMIN,XMAX,YMAX", help="2D box (twin CRS).")
def export(path, fmt, out_path, layers_, ids, wheres, bbox) -> None:
    """Export the twin at PATH (or the selected features) to CityJSON 2.0 or
    CityJSONSeq: schema-valid, with the twin CRS, semantic surfaces, every
    LoD and the hierarchy; importing the file gives back the same features."""
    from converters.cityjson_export import export_cityjson

    q = twin.Query(ids=ids, layers=layers_, filters=wheres,
                   bbox=floats(bbox, 4, "--bbox") if bbox else None)
    t0 = time.perf_counter()
    with twin.open_twin(path, readonly=True) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=_err, transient=True,
    ) as bar:
        task = bar.add_task(f"export {fmt}", total=None)
        rep = export_cityjson(store, out_path, q, seq=fmt == "cityjsonseq",
                              progress=lambda d, t: bar.update(task, completed=d, total=t))
    types = ", ".join(f"{k} {v}" for k, v in sorted(rep["by_type"].items()))
    _err.print(f"wrote {rep['objects']} city objects to {out_path} in "
               f"{time.perf_counter() - t0:.1f} s ({types or 'none'})", highlight=False)

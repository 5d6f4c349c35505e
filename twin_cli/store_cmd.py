"""``twin copy`` and ``twin upgrade``: moving a twin between stores, and
bringing an older twin to this toolkit's layout."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import twin

from .options import NEW_TWIN, TWIN
from .output import err_console


@click.command("copy")
@click.argument("src", type=TWIN)
@click.argument("dst", type=NEW_TWIN)
@click.option("--force", is_flag=True, help="Replace a twin that exists at DST.")
def copy(src: str, dst: str, force: bool) -> None:
    """Copy the twin SRC into a new twin DST, losslessly: features, meshes,
    network topology, import batches and provenance, user layers, CRS and
    origin. Either may be a GeoPackage file or a server database:

    \b
      twin copy city.gpkg postgresql://gis@db.city.example/twin
      twin copy postgresql://gis@db.city.example/twin district.gpkg

    A server's password comes from PGPASSWORD or ~/.pgpass."""
    from twin.store.copy import copy_twin

    with twin.open_twin(src, readonly=True) as source, Progress(
        TextColumn("copying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as bar:
        total = source.count(twin.Query())
        task = bar.add_task("copy", total=total)
        target = copy_twin(source, dst, overwrite=force,
                           progress=lambda n: bar.advance(task, n))
        inf = target.info()
        target.close()
    click.echo(f"copied {inf.feature_count} features, {inf.mesh_count} meshes, "
               f"{inf.edge_count} network edges and {inf.batch_count} import batches "
               f"into {inf.path}")


@click.command("upgrade")
@click.argument("path", type=TWIN)
def upgrade(path: str) -> None:
    """Upgrade the twin at PATH, written by an older toolkit, to this
    toolkit's layout, in place (one transaction: all of it or nothing).
    A twin stays readable by QGIS and GDAL after the upgrade; older toolkits
    cannot open it any more."""
    with twin.open_twin(path) as store:
        version = store.info().schema_version
    click.echo(f"{path}: twin schema version {version}, this toolkit's layout")

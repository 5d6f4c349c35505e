"""The ``twin`` command line: create, fill, inspect and query a twin."""

from __future__ import annotations

import csv
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.table import Table

import twin
from twin.errors import TwinError
from twin.extras import missing_extra

from .options import (
    NEW_TWIN,
    TWIN,
    as_of_option,
    dated,
    floats,
    parse_box2d,
    parse_box3d,
    parse_point3d,
)
from .output import console, err_console, styled

_err = err_console

#: Exit statuses: 2 for bad input (a file, an option, a twin), 1 for a bug.
EXIT_BAD_INPUT = 2
EXIT_BUG = 1


class _Group(click.Group):
    """Turns errors into one clear line and an exit status.

    Toolkit errors (:class:`~twin.errors.TwinError`: a bad file, option or
    twin) and I/O errors (a folder that does not exist) say what is wrong and
    exit 2. Anything else is a bug in the toolkit, never the user's file: one
    line says so and exits 1; ``twin --debug ...`` prints the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            try:
                return super().invoke(ctx)
            except ModuleNotFoundError as exc:  # a library of an extra left out
                sub = ctx.invoked_subcommand
                err = missing_extra(exc, f"'twin {sub}'" if sub else "this command")
                if err is None:
                    raise
                raise err from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (TwinError, OSError) as exc:
            if debug:
                _traceback(exc)
            _err.print(styled("error:", "bold red"), str(exc))
            if exc.__cause__ is not None and str(exc.__cause__) not in str(exc):
                _err.print(f"  cause: {exc.__cause__}")
            sys.exit(EXIT_BAD_INPUT)
        except Exception as exc:  # noqa: BLE001 - a bug: say so, never 'bad file'
            if debug:
                _traceback(exc)
            _err.print(styled("internal error", "bold red"),
                       f"(a bug in the toolkit, please report it): {type(exc).__name__}: {exc}"
                       + ("" if debug else "; run with --debug for the traceback"))
            sys.exit(EXIT_BUG)


def _traceback(exc: BaseException) -> None:
    click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(twin.__version__, prog_name="twin")
@click.option("--debug", is_flag=True,
              help="Print the traceback of an error (for bug reports).")
def cli(debug: bool) -> None:
    """Digital-twin city toolkit: buildings, public space and underground pipe
    networks on one georeferenced map (一张图).

    A twin is one GeoPackage file: open it in QGIS to see every layer's
    footprints and centrelines; the 3D meshes, topology and provenance live in
    further tables of the same file. A city's shared twin lives in PostgreSQL/
    PostGIS instead: wherever a twin PATH is asked for, give a URL such as
    postgresql://gis@db.example/city (password from PGPASSWORD or ~/.pgpass).

    \b
    Typical session:
      twin init city.gpkg --crs EPSG:4546
      twin import buildings.geojson pipes.geojson --twin city.gpkg
      twin info city.gpkg
      twin query city.gpkg --layer heating --where "install_year<2005"
    """


@cli.command()
@click.argument("path", type=NEW_TWIN)
@click.option("--crs", required=True,
              help="Projected metric CRS of the twin, any form pyproj accepts "
                   "(EPSG:4546, a WKT, an OGC URN).")
@click.option("--vertical-datum", default=None,
              help='Label of the height datum, e.g. "1985 National Height Datum".')
@click.option("--origin", default=None, metavar="X,Y,Z",
              help="Local origin for float32 rendering (default: the centre of the first import).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(path: str, crs: str, vertical_datum: str | None, origin: str | None, force: bool) -> None:
    """Create an empty twin in PATH: a .gpkg file, or a PostgreSQL database
    with PostGIS named by a URL (postgresql://user@host/db; add ?schema=NAME
    to keep it in its own schema, ?partitions=N to split its big tables by
    the spatial key, see docs/store.md)."""
    o = parse_point3d(origin, "--origin") if origin else None
    store = twin.create_twin(path, crs, vertical_datum=vertical_datum, origin=o, overwrite=force)
    click.echo(f"created {path}: CRS {store.crs.name}, "
               f"{len(store.layers())} standard layers")
    store.close()


@cli.command()
@click.argument("path", type=TWIN)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(path: str, as_json: bool) -> None:
    """Summary of a twin: CRS, extent, features per layer, batches."""
    with twin.open_twin(path, readonly=True) as store:
        inf = store.info()
        layers = {layer.name: layer for layer in store.layers()}
    if as_json:
        click.echo(json.dumps({
            "path": inf.path, "crs": inf.crs.to_string(), "crs_name": inf.crs.name,
            "vertical_datum": inf.vertical_datum, "origin": inf.origin,
            "schema_version": inf.schema_version, "features": inf.feature_count,
            "features_by_layer": inf.features_by_layer, "bounds": inf.bounds,
            "batches": inf.batch_count, "meshes": inf.mesh_count,
            "triangles": inf.triangle_count, "network_edges": inf.edge_count,
            "file_size": inf.extra.get("file_size"),
        }, indent=2, ensure_ascii=False))
        return
    out = console()
    out.print(styled(inf.path, "bold"), f" (twin schema {inf.schema_version})")
    out.print(f"CRS: {inf.crs.to_string()} {inf.crs.name}; heights: {inf.vertical_datum}")
    if inf.origin:
        out.print("local origin: " + ", ".join(f"{v:.1f}" for v in inf.origin))
    if inf.bounds:
        b = inf.bounds
        out.print(f"extent: x {b[0]:.1f}..{b[3]:.1f}  y {b[1]:.1f}..{b[4]:.1f}  "
                  f"z {b[2]:.1f}..{b[5]:.1f}  ({(b[3]-b[0])/1000:.2f} x {(b[4]-b[1])/1000:.2f} km)")
    out.print(f"{inf.feature_count} features, {inf.mesh_count} meshes "
              f"({inf.triangle_count} triangles), {inf.edge_count} network edges, "
              f"{inf.batch_count} import batches, {inf.extra.get('file_size', 0)/1e6:.1f} MB")
    t = Table("layer", "group", "features", title="features by layer")
    for name, n in sorted(inf.features_by_layer.items(),
                          key=lambda kv: list(layers).index(kv[0]) if kv[0] in layers else 999):
        grp = layers[name].group if name in layers else "?"
        t.add_row(name, grp, str(n))
    out.print(t)


@cli.command()
@click.argument("path", type=TWIN)
@click.option("--add", "add_name", default=None, metavar="NAME", help="Add a user layer.")
@click.option("--title", default=None, help="Title of the new layer.")
@click.option("--group", type=click.Choice(["above_ground", "surface", "underground"]),
              default="above_ground", show_default=True)
@click.option("--colour", default="#808080", show_default=True, help="Default colour #rrggbb.")
@click.option("--geometry", type=click.Choice(["GEOMETRY", "MULTIPOLYGON", "LINESTRING", "POINT"]),
              default="GEOMETRY", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def layers(path: str, add_name: str | None, title: str | None, group: str, colour: str,
           geometry: str, as_json: bool) -> None:
    """List the layer catalogue (with styles), or add a user layer."""
    with twin.open_twin(path, readonly=add_name is None) as store:
        if add_name:
            store.add_layer(twin.Layer(name=add_name, title=title or add_name, group=group,
                                       colour=colour, geometry_type=geometry))
            click.echo(f"added layer {add_name!r}")
            return
        rows = store.layers()
        counts = store.info().features_by_layer
    if as_json:
        click.echo(json.dumps([{
            "name": la.name, "title": la.title, "title_zh": la.title_zh, "group": la.group,
            "colour": la.colour, "geometry_type": la.geometry_type, "code": la.code,
            "attributes": list(la.attributes), "standard": la.standard,
            "features": counts.get(la.name, 0)} for la in rows], indent=2, ensure_ascii=False))
        return
    t = Table("name", "title", "group", "code", "colour", "geometry", "features")
    for la in rows:
        t.add_row(la.name, f"{la.title} {la.title_zh}".strip(), la.group, la.code or "",
                  styled("■", la.colour) + f" {la.colour}", la.geometry_type,
                  str(counts.get(la.name, 0)))
    console().print(t)


@cli.command()
@click.argument("path", type=TWIN)
@click.option("--id", "ids", multiple=True, help="Feature id (repeatable).")
@click.option("--layer", "layers_", multiple=True, help="Layer name (repeatable).")
@click.option("--type", "types", multiple=True, help="Object type (repeatable).")
@click.option("--where", "wheres", multiple=True, metavar="EXPR",
              help="Attribute filter: 'height>30', 'network in JS,RL', 'name like %school%'.")
@click.option("--bbox", default=None, metavar="XMIN,YMIN,XMAX,YMAX", help="2D box (twin CRS).")
@click.option("--box3d", default=None, metavar="XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX",
              help="3D box (twin CRS), e.g. everything 0 to 5 m below ground here.")
@click.option("--within", default=None, metavar="WKT|@FILE",
              help="Polygon (WKT, or @file with WKT or GeoJSON) the footprints must meet.")
@click.option("--predicate", type=click.Choice(["intersects", "within"]), default="intersects",
              show_default=True)
@click.option("--near", default=None, metavar="X,Y", help="Nearest features to this point.")
@click.option("-n", "near_n", default=5, show_default=True, help="How many with --near.")
@click.option("--children-of", default=None, metavar="ID", help="Children of this feature.")
@click.option("--descendants-of", default=None, metavar="ID",
              help="Children, grandchildren, ... of this feature.")
@click.option("--ancestors-of", default=None, metavar="ID",
              help="Parent, grandparent, ... of this feature.")
@click.option("--batch", type=int, default=None, help="Features of this import batch.")
@click.option("--limit", type=int, default=None, help="At most this many.")
@click.option("--offset", type=int, default=0, help="Skip this many first.")
@click.option("--format", "fmt", type=click.Choice(["table", "geojson", "csv"]), default="table",
              show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
@as_of_option
def query(path: str, ids, layers_, types, wheres, bbox, box3d, within, predicate, near, near_n,
          children_of, descendants_of, ancestors_of, batch, limit, offset, fmt,
          out_path, as_of) -> None:
    """Select features and print them as a table, GeoJSON or CSV.

    Results stream: the twin is never loaded whole into memory. With --as-of,
    the twin as it was then (the feature versions valid at that moment).
    """
    poly = _read_polygon(within) if within else None
    with twin.open_twin(path, readonly=True) as opened:
        store = dated(opened, as_of)
        if ancestors_of or descendants_of:
            from twin.hierarchy import ancestors, descendants

            rows = ((f, None) for f in ancestors(store, ancestors_of)) if ancestors_of else (
                (f, None) for f, _depth in descendants(store, descendants_of))
        elif near:
            x, y = floats(near, 2, "--near")
            hits = store.nearest(x, y, near_n, layers=layers_)
            rows = ((f, d) for f, d in hits)
        else:
            q = twin.Query(ids=ids, layers=layers_, types=types, filters=wheres,
                           bbox=parse_box2d(bbox) if bbox else None,
                           box3d=parse_box3d(box3d) if box3d else None,
                           within=poly, predicate=predicate, parent=children_of, batch=batch,
                           limit=limit, offset=offset)
            rows = ((f, None) for f in store.query(q))
        sink = open(out_path, "w", encoding="utf-8", newline="") if out_path else sys.stdout
        try:
            n = _write(rows, fmt, sink, store)
        finally:
            if out_path:
                sink.close()
    if out_path or fmt == "table":
        _err.print(f"{n} features", highlight=False)


def _read_polygon(text: str):
    import shapely

    src = text
    if text.startswith("@"):
        src = Path(text[1:]).read_text(encoding="utf-8")
    try:
        if src.lstrip().startswith("{"):
            doc = json.loads(src)
            geom = doc.get("geometry", doc) if doc.get("type") == "Feature" else doc
            if doc.get("type") == "FeatureCollection":
                geom = doc["features"][0]["geometry"]
            return shapely.geometry.shape(geom)
        return shapely.from_wkt(src)
    except Exception as exc:  # noqa: BLE001 - report any parse failure clearly
        raise click.BadParameter(
            f"--within: cannot read a polygon from {text[:60]!r}: {exc}") from None


def _write(rows, fmt: str, sink, store) -> int:
    n = 0
    if fmt == "geojson":
        auth = store.crs.to_authority()
        sink.write('{"type": "FeatureCollection", "crs": {"type": "name", "properties": '
                   f'{{"name": "urn:ogc:def:crs:{auth[0]}::{auth[1]}"}}}}, "features": [\n'
                   if auth else '{"type": "FeatureCollection", "features": [\n')
        for f, d in rows:
            gj = f.to_geojson()
            if d is not None:
                gj["properties"]["distance"] = round(d, 3)
            sink.write((",\n" if n else "") + json.dumps(gj, ensure_ascii=False, default=str))
            n += 1
        sink.write("\n]}\n")
        return n
    if fmt == "csv":
        w = None
        for f, d in rows:
            props = f.to_geojson()["properties"]
            plain = {k: v for k, v in props.items() if not isinstance(v, (dict, list))}
            row = {"id": f.id, **plain,
                   "wkt": f.footprint.wkt if f.footprint is not None else ""}
            if d is not None:
                row["distance"] = round(d, 3)
            if w is None:
                w = csv.DictWriter(sink, fieldnames=list(row), extrasaction="ignore")
                w.writeheader()
            w.writerow(row)
            n += 1
        return n
    t = Table("id", "layer", "type", "name", "z", "attributes")
    for f, d in rows:
        attrs = ", ".join(f"{k}={v}" for k, v in list(f.attributes.items())[:6])
        if d is not None:
            attrs = f"distance={d:.1f}, " + attrs
        z = f"{f.bbox[2]:.1f}..{f.bbox[5]:.1f}" if f.bbox else ""
        t.add_row(f.id, f.layer, f.type, f.name or "", z, attrs)
        n += 1
        if n >= 10000:
            t.add_row("...", "", "", "", "", "(table cut at 10000 rows; use --format csv)")
            break
    console(file=sink).print(t)
    return n


@cli.command()
@click.argument("path", type=TWIN)
@click.option("--remove", type=int, default=None, metavar="BATCH",
              help="Remove every feature of this import batch.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with reports).")
def batches(path: str, remove: int | None, as_json: bool) -> None:
    """List import batches, or remove one."""
    with twin.open_twin(path, readonly=remove is None) as store:
        if remove is not None:
            n = store.remove_batch(remove)
            click.echo(f"removed batch {remove}: {n} features")
            return
        rows = store.batches()
    if as_json:
        click.echo(json.dumps([b.__dict__ | {"report": dict(b.report)} for b in rows], indent=2,
                              ensure_ascii=False, default=str))
        return
    t = Table("batch", "source", "format", "converter", "finished", "features", "skipped")
    for b in rows:
        t.add_row(str(b.id), b.source, b.format, f"{b.converter} {b.converter_version}",
                  b.finished or "", _batch_count(b), str(b.report.get("skipped_count", 0)))
    console().print(t)


def _batch_count(b: twin.ImportBatch) -> str:
    """Features a batch holds now, and those a later import replaced."""
    later = b.report.get("replaced_by") or {}
    if not later:
        return str(b.feature_count)
    return f"{b.feature_count} ({sum(later.values())} replaced by batch " + \
        ", ".join(later) + ")"


@cli.command()
@click.argument("path", type=TWIN)
@click.argument("network", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def network(path: str, network: str | None, as_json: bool) -> None:
    """Check the topology of pipe networks (all, or NETWORK such as RL)."""
    from twin.network import network_graph, networks, validate_network

    with twin.open_twin(path, readonly=True) as store:
        names = [network] if network else networks(store)
        reports = [validate_network(network_graph(store, n)) for n in names]
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in reports], indent=2, default=list))
        return
    t = Table("network", "nodes", "edges", "components", "dangling", "problems")
    for r in reports:
        t.add_row(r.network, str(r.nodes), str(r.edges), str(r.components),
                  str(len(r.dangling_ends)), "; ".join(r.problems) or "none")
    console().print(t)


@cli.command()
@click.argument("path", type=TWIN)
@click.option("--match", "rematch", is_flag=True,
              help="Link every IFC building to the GIS buildings under it again (after "
                   "importing a GIS layer that came later).")
@click.option("--show", type=click.Choice(["bim", "gis"]), default=None,
              help="Which model the map and the viewers draw for linked buildings.")
@click.option("--id", "bim_id", default=None, help="Only this BIM building (with --show).")
@click.option("--json", "as_json", is_flag=True, help="Print the links as JSON.")
def conflate(path: str, rematch: bool, show: str | None, bim_id: str | None,
             as_json: bool) -> None:
    """BIM/GIS conflation: IFC buildings linked to the GIS buildings they model.

    An IFC import links its buildings to the twin's buildings whose footprints
    overlap them strongly (intersection over union >= 0.5); the viewers then
    draw one model of each real building (the BIM one, until --show gis).
    """
    from twin.conflation import links, match_twin, set_map_geometry

    with twin.open_twin(path, readonly=not (rematch or show)) as store:
        rows = match_twin(store) if rematch else links(store)
        if show:
            rows = set_map_geometry(store, show, bim_id)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    t = Table(title=f"{len(rows)} BIM building(s) linked")
    for col in ("BIM building", "name", "GIS building(s)", "IoU", "map shows"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["bim"], r["name"] or "", ", ".join(r["gis"][:4]) + (
            " ..." if len(r["gis"]) > 4 else ""), f"{r['iou']:.2f}", r["map_geometry"])
    console().print(t)


def _register() -> None:
    from .diff_cmd import diff, history
    from .edits_cmd import edits
    from .export import export
    from .federation import federation
    from .health_cmd import health_check_cmd
    from .import_cmd import import_
    from .observations import alerts, observations
    from .pipes import pipes
    from .serve import serve
    from .store_cmd import copy, upgrade
    from .view import snapshot, view

    cli.add_command(edits)
    cli.add_command(export)
    cli.add_command(health_check_cmd)
    cli.add_command(diff)
    cli.add_command(history)
    cli.add_command(import_)
    cli.add_command(observations)
    cli.add_command(alerts)
    cli.add_command(snapshot)
    cli.add_command(view)
    cli.add_command(pipes)
    cli.add_command(serve)
    cli.add_command(copy)
    cli.add_command(upgrade)
    cli.add_command(federation)


_register()


def main() -> None:
    cli(prog_name="twin")


if __name__ == "__main__":
    main()

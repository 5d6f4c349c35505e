"""Parsing helpers shared by the ``twin`` commands."""

from __future__ import annotations

import click


def floats(text: str, n: int | tuple[int, ...], what: str) -> tuple[float, ...]:
    """``"1,2,3,4"`` -> ``(1.0, 2.0, 3.0, 4.0)``; a click error naming ``what``
    unless there are exactly ``n`` numbers (or one of the counts in ``n``)."""
    counts = (n,) if isinstance(n, int) else n
    want = " or ".join(map(str, counts))
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{what} must be {want} comma-separated numbers, got {text!r}") from None
    if len(vals) not in counts:
        raise click.BadParameter(f"{what} must be {want} comma-separated numbers, got {text!r}")
    return vals


def parse_point3d(text: str, what: str) -> tuple[float, float, float]:
    """``"x,y,z"`` as three floats (a click error naming ``what`` otherwise)."""
    x, y, z = floats(text, 3, what)
    return x, y, z


def parse_box2d(text: str, what: str = "--bbox") -> tuple[float, float, float, float]:
    """``"xmin,ymin,xmax,ymax"`` as four floats (a click error naming ``what``
    otherwise)."""
    x0, y0, x1, y1 = floats(text, 4, what)
    return x0, y0, x1, y1


def parse_box3d(text: str, what: str = "--box3d"
                ) -> tuple[float, float, float, float, float, float]:
    """``"xmin,ymin,zmin,xmax,ymax,zmax"`` as six floats (a click error naming
    ``what`` otherwise)."""
    x0, y0, z0, x1, y1, z1 = floats(text, 6, what)
    return x0, y0, z0, x1, y1, z1


def field_mapping(items: tuple[str, ...]) -> dict[str, str]:
    """``("id=FACILITYID", "diameter=DIAM")`` -> ``{"id": "FACILITYID", ...}``; a
    click error for an item without ``=``."""
    out = {}
    for item in items:
        key, sep, col = item.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise click.BadParameter(f"--field must be KEY=COLUMN, got {item!r}")
        out[key.strip().lower()] = col.strip()
    return out


class TwinLocation(click.ParamType):
    """A twin: a GeoPackage file (which must exist, unless ``exists=False``)
    or a server database URL (``postgresql://user@host/db``), passed on as
    given; a URL's password comes from PGPASSWORD or ~/.pgpass."""

    name = "twin"

    def __init__(self, exists: bool = True):
        self._file = click.Path(exists=exists, dir_okay=False)

    def convert(self, value, param, ctx):
        from twin.store.location import is_server

        if isinstance(value, str) and (is_server(value) or value.startswith("postgis://")):
            return value
        return self._file.convert(value, param, ctx)


#: An existing twin (file or server URL).
TWIN = TwinLocation()
#: A twin to create (file or server URL).
NEW_TWIN = TwinLocation(exists=False)


#: ``--as-of DATE|BATCH`` of the commands that read a twin.
as_of_option = click.option(
    "--as-of", "as_of", default=None, metavar="DATE|BATCH",
    help="The twin as it was: after this import batch, or at the end of this date "
         "(2025-06-30) or at this time (2025-06-30T12:00:00Z, UTC); see 'twin batches'.")


def dated(store, as_of: str | None):
    """The store itself, or its read-only view as of ``--as-of``."""
    if as_of is None:
        return store
    from twin.store import resolve_as_of

    return store.at(resolve_as_of(store, as_of))

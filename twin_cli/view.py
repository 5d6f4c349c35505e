"""``twin view`` and ``twin snapshot``: the PyVista viewer on screen and off."""

from __future__ import annotations

import os
import time

import click

import twin

from .options import TWIN, as_of_option, dated, parse_box2d
from .output import err_console as _err

_COMMON = [
    click.option("--layers", default=None, metavar="A,B,...",
                 help="Only these layers (default: every layer with something to draw)."),
    click.option("--bbox", default=None, metavar="XMIN,YMIN,XMAX,YMAX",
                 help="Only features in this 2D box (twin CRS)."),
    click.option("--highlight", default=None, metavar="ANALYSIS",
                 help="Colour an analysis result, the rest faded: renewal[:YEAR], clearance, "
                      "isolation:SEGMENT_ID, changes:DATE|BATCH (added green, changed "
                      "amber)."),
    click.option("--readings", "readings", default=None, metavar="PROPERTY",
                 help="Colour the features carrying sensors by their reading of an observed "
                      "property (pressure, flow, ...), the rest faded."),
    click.option("--at", "at", default=None, metavar="TIME",
                 help="With --readings: the time (ISO 8601 with its offset, e.g. "
                      "2025-04-01T03:00:00+08:00); default the latest reading."),
]


def _common(f):
    for opt in reversed(_COMMON):
        f = opt(f)
    return f


def _layers(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip()) if text else ()


def _highlight(store, spec: str | None, readings: str | None = None, at: str | None = None):
    if at is not None and readings is None:
        raise click.UsageError("--at is the time of --readings: give --readings PROPERTY too")
    if readings is not None:
        if spec:
            raise click.UsageError("--highlight and --readings colour the same features: "
                                   "give one of them")
        from viewer.readings import readings_highlight

        return readings_highlight(store, readings, at)
    if not spec:
        return None
    from viewer.highlight import highlight

    return highlight(store, spec)


@click.command()
@click.argument("path", type=TWIN)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="PNG file to write.")
@click.option("--view", "view", default="iso", show_default=True,
              metavar="iso|top|underground|X,Y,Z,FX,FY,FZ",
              help="Camera: a preset, or position and focal point in the twin CRS.")
@click.option("--size", default="1600x1000", show_default=True, metavar="WxH",
              help="Image size in pixels.")
@click.option("--title", default=None, help="Text in the upper left corner (default: the "
              "highlight's summary).")
@_common
@as_of_option
def snapshot(path, out_path, view, size, title, layers, bbox, highlight, readings, at,
             as_of) -> None:
    """Render the twin at PATH off-screen to a PNG (no display needed: EGL).

    \b
    Examples:
      twin snapshot city.gpkg --out city.png
      twin snapshot city.gpkg --out pipes.png --view underground
      twin snapshot city.gpkg --out old.png --highlight renewal:2025 --view top
      twin snapshot city.gpkg --out 2024.png --as-of 2024-12-31
      twin snapshot city.gpkg --out p.png --readings pressure --at 2025-04-01T03:00:00+08:00
    """
    from viewer.desktop import parse_view, render_snapshot

    try:
        w, h = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"--size must be WIDTHxHEIGHT, got {size!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise click.BadParameter(f"--size {size}: each side must be 16 to 8192 pixels")
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    t0 = time.perf_counter()
    with twin.open_twin(path, readonly=True) as opened:
        store = dated(opened, as_of)
        hl = _highlight(store, highlight, readings, at)
        _img, scene = render_snapshot(
            store, out_path, layers=_layers(layers), view=parse_view(view),
            bbox=parse_box2d(bbox) if bbox else None, highlight=hl, size=(w, h),
            title=title)
    drawn = scene.counts.describe(scene.origin[2])
    _err.print(f"wrote {out_path} ({w}x{h}) in {time.perf_counter() - t0:.1f} s"
               + (f"; {hl.title}" if hl else "") + (f"; {drawn}" if drawn else ""))


@click.command()
@click.argument("path", type=TWIN)
@_common
def view(path, layers, bbox, highlight, readings, at) -> None:
    """Open the twin at PATH in an interactive 3D window.

    \b
    A checkbox per layer (bottom left) switches it; left click picks a feature
    and shows its attributes; 'u' toggles underground (X-ray) mode; 'c' shows
    a clipping plane you can drag; the mouse orbits, pans and zooms.

    \b
    Examples:
      twin view city.gpkg --highlight renewal:2025
      twin view city.gpkg --readings pressure --at 2025-04-01T03:00:00+08:00
    """
    from viewer.desktop import DesktopViewer

    with twin.open_twin(path, readonly=True) as store:
        v = DesktopViewer(store, layers=_layers(layers),
                          bbox=parse_box2d(bbox) if bbox else None,
                          highlight=_highlight(store, highlight, readings, at),
                          off_screen=False)
        drawn = v.scene.counts.describe(v.scene.origin[2])
        if drawn:
            _err.print(drawn)
        v.set_view("iso")
        v.add_annotations(v.highlight.title if v.highlight else None)
        v.show()

"""The PyVista viewer: an interactive window and off-screen snapshots.

Each layer is one merged mesh (few draw calls for large twins) whose cells
carry their feature's index, so picking still finds the feature. Features
without a mesh are drawn as lines or points, and a building whose parts have
meshes is drawn by its parts (see :mod:`viewer.scene`); ``scene.counts``
says how many of each. Colours come
from the twin's layer catalogue, coordinates are relative to the twin's local
origin. :class:`DesktopViewer` holds the scene and the operations the window
binds to keys and widgets (layer toggles, underground mode, picking, a
clipping plane); they work the same off-screen, which is how they are tested.

Off-screen rendering needs no display: VTK uses EGL (set
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` to skip its X11 attempt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.conflation import hidden_by_conflation
from twin.errors import QueryError
from twin.query import Query
from twin.store.base import TwinStore

from .highlight import Highlight, HighlightGroup, highlight_geometry
from .scene import LayerArrays, SceneArrays, TwinLookups, scene_arrays

# "pyvista typing": pyvista decorates Plotter methods (functools.wraps, its
# positional-argument deprecation) so that a type checker sees the plotter
# itself as the first argument of a bound call; those calls carry an ignore.

#: A plan box in the twin CRS: (xmin, ymin, xmax, ymax).
Box2D = tuple[float, float, float, float]

VIEWS = ("iso", "top", "underground")
#: Opacity of surface layers (terrain, roads, ...) in underground mode.
XRAY_OPACITY = 0.25
#: Opacity of features that are not highlighted while a highlight is shown.
DIMMED_OPACITY = 0.18
BACKGROUND = "#dfe6ee"


@dataclass
class PickResult:
    layer: str
    id: str
    attributes: dict[str, Any]


def parse_view(text: str) -> str | tuple[float, ...]:
    """``iso``, ``top``, ``underground`` or a camera ``x,y,z,fx,fy,fz``
    (position and focal point in the twin CRS)."""
    t = text.strip().lower()
    if t in VIEWS:
        return t
    try:
        nums = tuple(float(x) for x in t.split(","))
    except ValueError:
        nums = ()
    if len(nums) != 6 or not np.all(np.isfinite(nums)):
        raise QueryError(f"view {text!r}: use iso, top, underground or a camera "
                         "x,y,z,fx,fy,fz (position and focal point in the twin CRS)")
    return nums


def _lines(lines: Sequence[np.ndarray]):
    """Polylines ``[(n_i, 3), ...]`` as one PolyData."""
    import pyvista as pv

    pts = np.concatenate(lines)
    sizes = np.array([len(ln) for ln in lines])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    conn = np.concatenate([np.concatenate([[n], s + np.arange(n)])
                           for n, s in zip(sizes, starts)])
    return pv.PolyData(pts.astype(np.float64), lines=conn)


def _polydata(la: LayerArrays):
    import pyvista as pv

    meshes = []
    if la.n_faces:
        cells = np.hstack([np.full((la.n_faces, 1), 3, dtype=np.int64), la.faces]).ravel()
        m = pv.PolyData(la.vertices.astype(np.float64), cells)
        m.cell_data["feature"] = la.cell_feature
        meshes.append(m)
    if la.lines:
        m = _lines(la.lines)
        m.cell_data["feature"] = la.line_feature
        meshes.append(m)
    if len(la.points):
        m = pv.PolyData(la.points.astype(np.float64))  # one vertex cell per point
        m.cell_data["feature"] = la.point_feature
        meshes.append(m)
    return meshes


class DesktopViewer:
    """A twin scene in a PyVista plotter (on screen or off)."""

    def __init__(self, store: TwinStore, *, layers: Sequence[str] = (),
                 bbox: Box2D | None = None, highlight: Highlight | None = None,
                 off_screen: bool = True, window_size: tuple[int, int] = (1600, 1000)) -> None:
        import pyvista as pv

        self.store = store
        catalogue = {la.name: la for la in store.layers()}
        unknown = [n for n in layers if n not in catalogue]
        if unknown:
            raise QueryError(f"no layer {', '.join(map(repr, unknown))} in this twin; it has "
                             f"{', '.join(catalogue)}")
        origin = store.origin or (0.0, 0.0, 0.0)
        q = Query(layers=tuple(layers), bbox=bbox or None, with_meshes=True)
        hidden = hidden_by_conflation(store)  # a building's second model (BIM or GIS)
        lookups = TwinLookups.of(store)
        self.scene: SceneArrays = scene_arrays(
            (f for f in store.query(q) if f.id not in hidden), origin, ground=lookups.ground,
            parent_of=lookups.parent_of)
        if not self.scene.layers:
            raise QueryError("nothing to draw: no feature with a mesh, a footprint or a point"
                             + (" in this bbox" if bbox else "")
                             + (f" in layers {', '.join(layers)}" if layers else ""))
        self.catalogue = catalogue
        self.highlight = highlight
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
        self.plotter.set_background(BACKGROUND)  # type: ignore[arg-type]  # pyvista typing
        if off_screen:
            self.plotter.enable_anti_aliasing("ssaa")
        self.actors: dict[str, list] = {}
        self._opacity: dict[int, float] = {}
        self.underground = False
        colour_of = highlight.colour_of() if highlight else {}
        for name in catalogue:  # in the catalogue's drawing order
            if name in self.scene.layers:
                self._add_layer(self.scene.layers[name], colour_of)
        if highlight is not None:
            self._add_highlight_overlay(highlight)
        self.legend = self._legend()

    # -- building the scene -------------------------------------------------
    def _add_layer(self, la: LayerArrays, colour_of: dict[str, str]) -> None:
        colour = self.catalogue[la.name].colour
        # each feature's highlight colour ("" when not highlighted), then per cell
        feature_colour = np.array([colour_of.get(i, "") for i in la.ids], dtype=object)
        actors = []
        for mesh in _polydata(la):
            kind = "lines" if mesh.n_lines else "points" if mesh.n_verts else "faces"
            styles: dict[str, dict[str, Any]] = {
                "lines": dict(line_width=3, render_lines_as_tubes=False),
                "points": dict(point_size=9, render_points_as_spheres=True),
                "faces": dict(smooth_shading=False, specular=0.1, ambient=0.25,
                              diffuse=0.85)}
            kw = styles[kind]
            # actor names must be unique: pyvista replaces an actor of the same name
            if not colour_of:
                actors.append(self._add(mesh, colour, 1.0, f"{la.name}:{kind}", **kw))
                continue
            cell_colour = feature_colour[mesh.cell_data["feature"]]
            for c in sorted(set(cell_colour)):
                part = mesh.extract_cells(np.flatnonzero(cell_colour == c)).extract_surface(
                    algorithm="dataset_surface")
                # highlighted parts opaque in their colour, the rest faded in the layer's
                actors.append(self._add(part, c or colour, 1.0 if c else DIMMED_OPACITY,
                                        f"{la.name}:{kind}:{c}", **kw))
        self.actors[la.name] = actors

    def _add(self, mesh, colour: str, opacity: float, name: str, **kw):
        actor = self.plotter.add_mesh(mesh, color=colour, opacity=opacity, pickable=True,
                                      name=name, **kw)
        self._opacity[id(actor)] = opacity  # what underground mode returns to
        return actor

    def _add_highlight_overlay(self, hl: Highlight) -> None:
        """Highlighted lines and points drawn thick, so that a pipe shows at city scale."""
        shown = frozenset(i for la in self.scene.layers.values() for i in la.ids)
        for g in hl.groups:
            lines, points = highlight_geometry(
                self.store, HighlightGroup(g.label, g.colour, g.ids & shown), self.scene.origin)
            if lines:
                self.plotter.add_mesh(_lines(lines), color=g.colour, line_width=5,
                                      pickable=False, name=f"highlight:{g.label}")
            if points:
                self.plotter.add_points(np.array(points), color=g.colour, point_size=14,
                                        render_points_as_spheres=True, pickable=False,
                                        name=f"highlight-points:{g.label}")

    def _legend(self) -> list[tuple[str, str]]:
        """Legend entries of a highlight (a plain scene shows the catalogue colours)."""
        if self.highlight:
            return [(f"{g.label} ({len(g.ids)})", g.colour) for g in self.highlight.groups
                    if g.ids]
        return []

    # -- operations (bound to keys and widgets in the window) --------------
    def set_layer_visible(self, name: str, visible: bool) -> None:
        for a in self.actors.get(name, ()):
            a.SetVisibility(bool(visible))

    def set_underground(self, on: bool) -> None:
        """Surface layers see-through (and not pickable), for pipes below ground."""
        self.underground = bool(on)
        for name, actors in self.actors.items():
            if self.catalogue[name].group == "surface":
                for a in actors:
                    base = self._opacity[id(a)]
                    a.prop.opacity = min(base, XRAY_OPACITY) if on else base
                    a.SetPickable(not on)

    def set_clip(self, normal: Sequence[float] | None, origin: Sequence[float] | None = None
                 ) -> None:
        """Clip every layer with a plane (``origin`` relative to the twin's
        origin); ``None`` removes it."""
        import vtk

        plane = None
        if normal is not None:
            plane = vtk.vtkPlane()
            plane.SetNormal(*normal)
            plane.SetOrigin(*(origin if origin is not None else self.scene.bounds().reshape(
                2, 3).mean(axis=0)))
        for actors in self.actors.values():
            for a in actors:
                a.mapper.RemoveAllClippingPlanes()
                if plane is not None:
                    a.mapper.AddClippingPlane(plane)

    def feature_at(self, actor, cell_id: int) -> PickResult | None:
        """The feature a picked cell belongs to (with its attributes from the twin)."""
        for name, actors in self.actors.items():
            for a in actors:
                if a is actor:
                    ds = a.mapper.dataset
                    if cell_id < 0 or cell_id >= ds.n_cells:
                        return None
                    fid = self.scene.layers[name].ids[int(ds.cell_data["feature"][cell_id])]
                    f = self.store.get(fid, meshes=False)
                    return PickResult(name, fid, dict(f.attributes))
        return None

    def pick_at(self, x: int, y: int) -> PickResult | None:
        """Pick at display pixel ``(x, y)`` (origin bottom left)."""
        import vtk

        picker = vtk.vtkCellPicker()
        picker.SetTolerance(0.0005)
        self._render()
        if not picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        return self.feature_at(picker.GetActor(), picker.GetCellId())

    def set_view(self, view: str | tuple[float, ...]) -> None:
        b = self.scene.bounds()
        lo, hi = b[:3], b[3:]
        centre = (lo + hi) / 2
        size = float(np.linalg.norm(hi - lo))
        pl = self.plotter
        if view == "top":
            pl.enable_parallel_projection()  # type: ignore[call-arg]  # pyvista typing
            pl.camera_position = [tuple(centre + [0, 0, size]), tuple(centre), (0, 1, 0)]
            pl.reset_camera()  # type: ignore[call-arg]  # pyvista typing
            pl.camera.zoom(1.3)
        elif view == "underground":
            # X-ray: the ground see-through, buildings faded, a close oblique look at
            # the pipes under the centre of the scene
            self.set_underground(True)
            for name, actors in self.actors.items():
                if self.catalogue[name].group == "above_ground":
                    for a in actors:
                        a.prop.opacity = min(a.prop.opacity, 0.3)
            pl.disable_parallel_projection()  # type: ignore[call-arg]  # pyvista typing
            focus = np.array([centre[0], centre[1], self._ground_level() - 3.0])
            eye = focus + np.array([-0.08, -0.14, 0.07]) * size
            pl.camera_position = [tuple(eye), tuple(focus), (0, 0, 1)]
        elif view == "iso":
            pl.disable_parallel_projection()  # type: ignore[call-arg]  # pyvista typing
            pl.camera_position = [tuple(centre + np.array([-0.35, -0.6, 0.45]) * size),
                                  tuple(centre), (0, 0, 1)]
            pl.reset_camera()  # type: ignore[call-arg]  # pyvista typing
            pl.camera.zoom(1.6)
        else:
            o = np.asarray(self.scene.origin)
            pos, focal = np.asarray(view[:3]) - o, np.asarray(view[3:]) - o
            pl.disable_parallel_projection()  # type: ignore[call-arg]  # pyvista typing
            pl.camera_position = [tuple(pos), tuple(focal), (0, 0, 1)]
        pl.reset_camera_clipping_range()

    def _ground_level(self) -> float:
        surf = [self.scene.layers[n].vertices[:, 2] for n in self.scene.layers
                if self.catalogue[n].group == "surface" and len(self.scene.layers[n].vertices)]
        if surf:
            return float(np.median(np.concatenate(surf)))
        return float(self.scene.bounds()[2])

    def add_annotations(self, title: str | None = None) -> None:
        pl = self.plotter
        if title:
            pl.add_text(title, position="upper_left", font_size=11, color="black",
                        name="title")
        if self.legend:
            n = min(len(self.legend), 16)
            legend = pl.add_legend(  # type: ignore[call-arg]  # pyvista typing
                labels=[[t, c] for t, c in self.legend[:n]], bcolor="white",
                face="rectangle", background_opacity=0.85)
            legend.GetEntryTextProperty().SetColor(0.1, 0.1, 0.1)
            h = 0.035 * n
            legend.SetPosition(0.78, 0.02)
            legend.SetPosition2(0.21, h)

    def screenshot(self, path: str | Path | None = None) -> np.ndarray:
        """Render and return the image ``(h, w, 3)`` uint8 (and write a PNG)."""
        self._render()
        img = self.plotter.screenshot(str(path) if path else None, return_img=True)
        if img is None:  # never: return_img=True returns the image
            raise RuntimeError("pyvista returned no screenshot")
        return img

    def _render(self) -> None:
        pl = self.plotter
        if pl.render_window is None:
            return
        if pl._first_time:  # nothing drawn yet: pyvista's first render sets the scene up
            pl.show(auto_close=False, interactive=False)
        else:  # pyvista's render() does not redraw an off-screen window that was shown
            pl.render_window.Render()

    def close(self) -> None:
        self.plotter.close()

    # -- the interactive window --------------------------------------------
    def show(self) -> None:
        """Open the window: a checkbox per layer (bottom left), ``u`` toggles
        underground mode, ``c`` the clipping plane widget, a left click picks."""
        pl = self.plotter
        size, gap = 22, 4
        for i, name in enumerate(self.actors):
            pl.add_checkbox_button_widget(
                lambda on, n=name: self.set_layer_visible(n, on),  # type: ignore[arg-type]  # pyvista typing
                value=True, position=(10, 10 + i * (size + gap)), size=size,
                color_on=self.catalogue[name].colour, color_off="white")
            pl.add_text(self.catalogue[name].title, position=(40, 12 + i * (size + gap)),
                        font_size=8, color="black")

        def on_pick(_point, picker) -> None:
            hit = self.feature_at(picker.GetActor(), picker.GetCellId())
            if hit is None:
                return
            lines = [f"{hit.id}  ({hit.layer})"] + [
                f"{k}: {v}" for k, v in list(hit.attributes.items())[:18]]
            pl.add_text("\n".join(lines), position="upper_right", font_size=9,
                        color="black", name="info")

        pl.enable_point_picking(
            on_pick,  # type: ignore[arg-type]  # pyvista typing
            use_picker=True, picker="cell", left_clicking=True, show_message=False,
            show_point=False)

        def toggle_underground() -> None:
            self.set_underground(not self.underground)
            pl.render()

        pl.add_key_event("u", toggle_underground)  # type: ignore[arg-type]  # pyvista typing
        state = {"on": False}

        def toggle_clip() -> None:
            state["on"] = not state["on"]
            if state["on"]:
                pl.add_plane_widget(
                    lambda n, o: self.set_clip(n, o),  # type: ignore[arg-type]  # pyvista typing
                    normal="x")
            else:
                pl.clear_plane_widgets()  # type: ignore[call-arg]  # pyvista typing
                self.set_clip(None)

        pl.add_key_event("c", toggle_clip)  # type: ignore[arg-type]  # pyvista typing
        pl.show(title="twin view")


def snapshot(store: TwinStore, out: str | Path, *, layers: Sequence[str] = (),
             view: str | tuple[float, ...] = "iso", bbox: Box2D | None = None,
             highlight: Highlight | None = None, size: tuple[int, int] = (1600, 1000),
             title: str | None = None) -> np.ndarray:
    """Render the twin off-screen to a PNG at ``out``; returns the image."""
    return render_snapshot(store, out, layers=layers, view=view, bbox=bbox,
                           highlight=highlight, size=size, title=title)[0]


def render_snapshot(store: TwinStore, out: str | Path, *, layers: Sequence[str] = (),
                    view: str | tuple[float, ...] = "iso", bbox: Box2D | None = None,
                    highlight: Highlight | None = None, size: tuple[int, int] = (1600, 1000),
                    title: str | None = None) -> tuple[np.ndarray, SceneArrays]:
    """:func:`snapshot`, also returning the scene drawn (its ``counts`` say
    what was drawn without a mesh or left to a building's parts)."""
    v = DesktopViewer(store, layers=layers, bbox=bbox, highlight=highlight, off_screen=True,
                      window_size=size)
    try:
        v.set_view(view)
        v.add_annotations(title if title is not None else (highlight.title if highlight
                                                             else None))
        return v.screenshot(out), v.scene
    finally:
        v.close()


__all__ = ["DesktopViewer", "PickResult", "parse_view", "render_snapshot", "snapshot"]

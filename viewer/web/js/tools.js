// Presenter's tools on the 3D scene: the section box and measurements.
import * as THREE from "three";
import { ShapeUtils } from "three";
import { fill, byId } from "./dom.js";
import { viewToTwin } from "./stage.js";

/** A section box: six clipping planes (west, east, south, north, bottom, top), each
 * set by a slider in percent of the twin's extent; what lies outside is cut away. */
export class SectionBox {
  constructor(viewer) {
    this.viewer = viewer;
    this.on = false;
    this.range = { x: [0, 100], y: [0, 100], z: [0, 100] }; // east, up, north in %
    this.planes = [];
    this.helper = null;
  }

  /** The box in the viewer frame for the current sliders. */
  box() {
    const b = this.viewer.stage.bounds;
    const lerp = (a, c, t) => a + (c - a) * t / 100;
    const r = this.range;
    // north runs along -z: north 0% is the southern edge (largest z)
    return new THREE.Box3(
      new THREE.Vector3(lerp(b.min.x, b.max.x, r.x[0]), lerp(b.min.y, b.max.y, r.z[0]),
        lerp(b.max.z, b.min.z, r.y[1])),
      new THREE.Vector3(lerp(b.min.x, b.max.x, r.x[1]), lerp(b.min.y, b.max.y, r.z[1]),
        lerp(b.max.z, b.min.z, r.y[0])));
  }

  set(change) {
    Object.assign(this, change);
    const bx = this.box();
    this.planes = this.on ? [
      new THREE.Plane(new THREE.Vector3(1, 0, 0), -bx.min.x), new THREE.Plane(new THREE.Vector3(-1, 0, 0), bx.max.x),
      new THREE.Plane(new THREE.Vector3(0, 1, 0), -bx.min.y), new THREE.Plane(new THREE.Vector3(0, -1, 0), bx.max.y),
      new THREE.Plane(new THREE.Vector3(0, 0, 1), -bx.min.z), new THREE.Plane(new THREE.Vector3(0, 0, -1), bx.max.z),
    ] : [];
    for (const c of this.viewer.source.chunks) c.setClipping(this.planes);
    const scene = this.viewer.stage.scene;
    if (this.helper) { scene.remove(this.helper); this.helper = null; }
    if (this.on) {
      this.helper = new THREE.Box3Helper(bx, 0x2060c0);
      scene.add(this.helper);
    }
    this.viewer.stage.requestRender();
    return { on: this.on, min: bx.min.toArray(), max: bx.max.toArray() };
  }

  bind() {
    byId("section").addEventListener("change", (ev) => this.set({ on: ev.target.checked }));
    for (const input of document.querySelectorAll("#section-box input[type=range]")) {
      input.addEventListener("input", () => {
        const [axis, end] = input.dataset.plane.split(":");
        const r = this.range[axis].slice();
        r[end === "min" ? 0 : 1] = Number(input.value);
        if (r[0] > r[1]) r[end === "min" ? 1 : 0] = r[end === "min" ? 0 : 1];
        this.set({ range: { ...this.range, [axis]: r } });
      });
    }
  }
}

const PINK = 0xff2080;

/** Distance (two clicks: 3D, horizontal and height difference), height (two clicks:
 * the vertical difference) and area (clicks around, double-click to close: the
 * horizontal area and the perimeter). Results are in metres of the twin CRS. */
export class Measure {
  constructor(viewer) {
    this.viewer = viewer;
    this.mode = "";
    this.points = [];
    this.group = new THREE.Group();
    viewer.stage.scene.add(this.group);
    this.result = null;
  }

  setMode(mode) {
    this.mode = mode;
    this.points = [];
    this.group.clear();
    this.result = null;
    fill(byId("measurement"), mode === "area" ? "click the corners, double-click to close"
      : mode ? "click the first point" : "");
    this.viewer.stage.requestRender();
  }

  marker(p) {
    const m = new THREE.Mesh(new THREE.SphereGeometry(1.2, 12, 8),
      new THREE.MeshBasicMaterial({ color: PINK, depthTest: false }));
    m.position.copy(p);
    m.renderOrder = 10;
    this.group.add(m);
  }

  line(points, closed = false) {
    const pts = closed ? [...points, points[0]] : points;
    const l = new THREE.Line(new THREE.BufferGeometry().setFromPoints(pts),
      new THREE.LineBasicMaterial({ color: PINK, depthTest: false }));
    l.renderOrder = 10;
    this.group.add(l);
  }

  click(point) {
    if (!this.mode) return null;
    if (this.points.length >= 2 && this.mode !== "area") this.setMode(this.mode);
    this.points.push(point.clone());
    this.marker(point);
    const out = byId("measurement");
    if (this.mode !== "area" && this.points.length === 1) {
      fill(out, "click the second point");
    } else if (this.mode === "distance") {
      const [a, b] = this.points.map(viewToTwin);
      const horizontal = Math.hypot(b.e - a.e, b.n - a.n);
      const dz = b.h - a.h;
      this.line(this.points);
      this.result = { kind: "distance", distance: Math.hypot(horizontal, dz), horizontal, dz, from: a, to: b };
      fill(out, `${this.result.distance.toFixed(2)} m (horizontal ${horizontal.toFixed(2)} m, ` +
        `height ${dz >= 0 ? "+" : ""}${dz.toFixed(2)} m)`);
    } else if (this.mode === "height") {
      const [a, b] = this.points;
      const top = a.y > b.y ? a : b, low = a.y > b.y ? b : a;
      this.line([top, new THREE.Vector3(top.x, low.y, top.z), low]);
      this.result = { kind: "height", height: top.y - low.y, from: viewToTwin(a), to: viewToTwin(b) };
      fill(out, `height ${this.result.height.toFixed(2)} m`);
    } else {
      this.group.children.filter((c) => c.isLine).forEach((c) => this.group.remove(c));
      this.line(this.points);
      fill(out, `${this.points.length} corners, double-click to close`);
    }
    this.viewer.stage.requestRender();
    return this.result;
  }

  /** Close the area polygon: area of its horizontal projection (three's ShapeUtils)
   * and its perimeter along the clicked points. */
  close() {
    if (this.mode !== "area" || this.points.length < 3) return null;
    const flat = this.points.map((p) => new THREE.Vector2(p.x, -p.z));
    const area = Math.abs(ShapeUtils.area(flat));
    let perimeter = 0;
    for (let i = 0; i < flat.length; i++) perimeter += flat[i].distanceTo(flat[(i + 1) % flat.length]);
    this.group.children.filter((c) => c.isLine).forEach((c) => this.group.remove(c));
    this.line(this.points, true);
    this.result = { kind: "area", area, perimeter, corners: this.points.map(viewToTwin) };
    fill(byId("measurement"), `area ${area.toFixed(1)} m² (perimeter ${perimeter.toFixed(1)} m)`);
    this.points = [];
    this.viewer.stage.requestRender();
    return this.result;
  }
}

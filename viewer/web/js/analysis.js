// What the map says: analysis highlights, the health-check dashboard, building
// colours by attribute and sensor readings (readings.js), each with its legend.
//
// Styles combine in one function per feature (see chunks.js): the layer colour,
// then the attribute colouring, then a highlight (its groups coloured, the rest
// faded). Feature sets come from the API as ids, so they apply to the chunks loaded
// now and to those that stream in later alike.
import * as THREE from "three";
import { LineSegments2 } from "three/addons/lines/LineSegments2.js";
import { LineSegmentsGeometry } from "three/addons/lines/LineSegmentsGeometry.js";
import { LineMaterial } from "three/addons/lines/LineMaterial.js";
import { h, fill, swatch, byId } from "./dom.js";
import { formatValue } from "./card.js";

const FADED = 0.15;
const SELECTED = new THREE.Color("#ff8c1a");
// a sequential ramp (light yellow -> dark red, ColorBrewer YlOrRd) for numbers
const RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
const CATEGORIES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];

export class Analysis {
  constructor(viewer) {
    this.viewer = viewer;
    this.group = new THREE.Group(); // thick lines and points of the highlighted sets
    this.group.renderOrder = 5;
    viewer.stage.scene.add(this.group);
    this.highlight = null; // {title, groups, colourOf: Map}
    this.colouring = null; // {layer, name, colourOf: Map}
    this.readings = null; // readings mode (readings.js): {colourOf: Map, ...}
  }

  /** The style of one row (see Chunk.applyStyle). */
  styleOf(row, layer) {
    if (row.id === this.viewer.selected) return { colour: SELECTED, alpha: 1 };
    let colour = null;
    if (this.colouring && this.colouring.layer === layer) {
      colour = this.colouring.colourOf.get(row.id) || this.colouring.missing;
    }
    if (this.readings) { // readings mode: features with a reading in its colours, the rest faded
      const c = this.readings.colourOf.get(row.id);
      return c ? { colour: c, alpha: 1 } : { colour, alpha: FADED };
    }
    if (this.highlight) {
      const c = this.highlight.colourOf.get(row.id);
      if (c) return { colour: c, alpha: 1 };
      return { colour, alpha: FADED };
    }
    return { colour, alpha: 1 };
  }

  restyle(chunks = this.viewer.source.chunks) {
    const fn = (row, layer) => this.styleOf(row, layer);
    for (const c of chunks) {
      c.applyStyle(fn);
      this.viewer.layers.applyTo(c);
    }
    this.viewer.stage.requestRender();
  }

  /** Show coloured feature sets: an analysis highlight or an indicator's features
   * ({title, groups: [{label, colour, ids, lines?, points?}]}); null clears. */
  show(res) {
    this.group.clear();
    this.highlight = null;
    if (res) {
      const colourOf = new Map();
      for (const g of [...res.groups].reverse()) {
        const c = new THREE.Color(g.colour);
        for (const id of g.ids) colourOf.set(id, c);
      }
      this.highlight = { ...res, colourOf };
      for (const g of res.groups) {
        if (g.lines && g.lines.length) this.group.add(this._lines(g.lines, g.colour));
        if (g.points && g.points.length) this.group.add(this._points(g.points, g.colour));
      }
    }
    this.restyle();
    this.legend();
  }

  /** The ids coloured now among the loaded features (for tests and scripts). */
  colouredIds() {
    const out = new Set();
    if (!this.highlight) return out;
    for (const [row] of this.viewer.source.rows()) {
      if (this.highlight.colourOf.has(row.id)) out.add(row.id);
    }
    return out;
  }

  async colourBy(layer, name) {
    this.colouring = null;
    if (name) {
      const res = await this.viewer.api.json(
        `twin/viewer/attributes/${encodeURIComponent(layer)}/${encodeURIComponent(name)}`);
      this.colouring = { layer, ...res, ...scale(res) };
    }
    this.restyle();
    this.legend();
    return this.colouring;
  }

  legend() {
    const box = byId("legend");
    const parts = [];
    if (this.highlight) {
      parts.push(h("b", {}, this.highlight.title));
      for (const g of this.highlight.groups) {
        if (g.ids.length) parts.push(h("div", {}, swatch(g.colour), `${g.label} (${g.ids.length})`));
      }
      for (const note of this.highlight.notes || []) parts.push(h("div", { className: "hint" }, note));
    }
    const c = this.colouring;
    if (c) {
      parts.push(h("b", {}, `${c.layer}: ${c.name}${c.label_zh ? " " + c.label_zh : ""}`));
      for (const [label, colour] of c.entries) parts.push(h("div", {}, swatch(colour), label));
      parts.push(h("div", {}, swatch(c.missingHex), "no value"));
    }
    if (this.readings && this.viewer.readings) parts.push(...this.viewer.readings.legendParts());
    fill(box, parts);
  }

  _lines(lines, colour) { // twin offsets (e, n, h) -> viewer frame, 4 px wide
    const pos = [];
    for (const ln of lines) {
      for (let i = 0; i + 1 < ln.length; i++) {
        const [a, b] = [ln[i], ln[i + 1]];
        pos.push(a[0], a[2], -a[1], b[0], b[2], -b[1]);
      }
    }
    const mat = new LineMaterial({ color: colour, linewidth: 4, depthTest: false });
    mat.resolution.copy(this.viewer.stage.resolution);
    const obj = new LineSegments2(new LineSegmentsGeometry().setPositions(pos), mat);
    obj.renderOrder = 5;
    return obj;
  }

  _points(points, colour) {
    const geom = new THREE.SphereGeometry(2.0, 12, 8);
    const mat = new THREE.MeshBasicMaterial({ color: colour, depthTest: false });
    const mesh = new THREE.InstancedMesh(geom, mat, points.length);
    const m = new THREE.Matrix4();
    points.forEach((p, i) => mesh.setMatrixAt(i, m.makeTranslation(p[0], p[2], -p[1])));
    mesh.renderOrder = 6;
    return mesh;
  }
}

// colours of an attribute's values: a ramp in five classes for numbers (equal
// intervals between the smallest and largest value), a palette for categories
function scale(res) {
  const colourOf = new Map();
  const entries = [];
  const missingHex = "#b0b0b0";
  if (res.kind === "number") {
    const nums = res.values.map(Number);
    const lo = Math.min(...nums), hi = Math.max(...nums);
    const step = (hi - lo) / RAMP.length || 1;
    const cls = (v) => Math.min(RAMP.length - 1, Math.floor((v - lo) / step));
    res.ids.forEach((id, i) => colourOf.set(id, new THREE.Color(RAMP[cls(nums[i])])));
    const used = new Set(nums.map(cls));
    RAMP.forEach((c, k) => {
      if (!used.has(k)) return;
      const a = lo + k * step, b = k === RAMP.length - 1 ? hi : lo + (k + 1) * step;
      entries.push([`${formatValue(round(a), res.unit)} – ${formatValue(round(b), res.unit)}`, c]);
    });
  } else {
    const keys = [...new Set(res.values.map(String))].sort();
    const pick = res.kind === "flag" ? { true: "#2e9e44", false: "#ff9a1f" } : {};
    keys.forEach((k, i) => { pick[k] = pick[k] || CATEGORIES[i % CATEGORIES.length]; });
    res.ids.forEach((id, i) => colourOf.set(id, new THREE.Color(pick[String(res.values[i])])));
    for (const k of keys) {
      const label = res.kind === "flag" ? formatValue(k === "true") : k;
      entries.push([label, pick[k]]);
    }
  }
  return { colourOf, entries, missing: new THREE.Color(missingHex), missingHex };
}

function round(v) { return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10; }

// The one-map (一张图) layer panel: above ground, surface and underground, each
// layer with its colour, title (English and Chinese), feature count, visibility and
// opacity. Layer state (visible, opacity) applies to every chunk of the layer, those
// that arrive later (streamed tiles) included.
import { h, fill, swatch } from "./dom.js";

/** Surface layers drawn back to front on the ground: each one's polygon offset pushes
 * it behind the next, so coplanar roads, land use, parks and terrain never z-fight. */
const GROUND_ORDER = ["terrain", "landuse", "vegetation", "water", "roads"];

export class Layers {
  constructor(viewer, catalogue) {
    this.viewer = viewer;
    this.catalogue = catalogue; // /twin/viewer/catalogue
    this.state = {}; // name -> {visible, opacity}
    this.group = {};
    this.exposed = false;
    for (const g of catalogue.groups) for (const l of g.layers) this.group[l.name] = g.name;
  }

  /** The layers shown in the panel: those with features in the scene source (a
   * GLB scene: what it holds; tiles: every layer with features). */
  names() { return Object.keys(this.state); }

  add(name) {
    if (!this.state[name]) this.state[name] = { visible: true, opacity: 1, xray: 1 };
  }

  /** Apply the layer's state to one chunk. */
  applyTo(chunk) {
    const st = this.state[chunk.layer];
    const obj = chunk.object;
    const m = chunk.material;
    const opacity = st ? st.opacity * st.xray : 1;
    obj.visible = (st ? st.visible : true) && (this.group[chunk.layer] !== "underground" ||
      this.exposed);
    const base = m.userData.baseOpacity ?? 1;
    m.opacity = base * opacity;
    const blend = m.opacity < 1 || chunk.faded;
    if (m.transparent !== blend) m.needsUpdate = true;
    m.transparent = blend;
    m.depthWrite = !blend;
    const order = GROUND_ORDER.indexOf(chunk.layer);
    if (order >= 0 && chunk.kind !== "lines") {
      m.polygonOffset = true;
      m.polygonOffsetFactor = 1;
      m.polygonOffsetUnits = GROUND_ORDER.length - order;
    }
    const surface = this.group[chunk.layer] === "surface";
    obj.castShadow = !surface && chunk.kind !== "lines";
    // the ground takes the shadows (walls would take their own as acne: no normals)
    obj.receiveShadow = surface && chunk.kind !== "lines";
    if (chunk.kind === "lines") obj.renderOrder = 2;
  }

  /** Whether anything under the ground can be seen: X-ray, a surface layer hidden or
   * see-through, no ground at all, a highlight or readings (they fade the ground), the section box
   * or the base map on, or the camera under the ground.
   * Otherwise the networks are not drawn at all: hidden by opaque ground, they would
   * cost most of a frame in software WebGL for nothing. */
  exposure(cameraY) {
    const v = this.viewer;
    const surfaceOpen = this.names().some((n) => this.group[n] === "surface" &&
      (!this.state[n].visible || this.state[n].opacity * this.state[n].xray < 1));
    const noGround = !this.names().some((n) => this.group[n] === "surface");
    const exposed = !!(noGround || surfaceOpen || v.section?.on || v.basemap?.mesh ||
      v.analysis?.highlight || v.analysis?.readings || cameraY < (v.groundLevel ?? -Infinity) + 1);
    if (exposed !== this.exposed) {
      this.exposed = exposed;
      for (const c of v.source.chunks) if (this.group[c.layer] === "underground") this.applyTo(c);
      v.stage.requestRender(true);
    }
    return exposed;
  }

  set(name, change) {
    Object.assign(this.state[name], change);
    for (const c of this.viewer.source.chunks) if (c.layer === name) this.applyTo(c);
    this.viewer.stage.requestRender(true);
  }

  /** X-ray: the surface see-through so that the networks under it show. */
  setXray(on) {
    for (const name of this.names()) {
      if (this.group[name] === "surface") this.set(name, { xray: on ? 0.25 : 1 });
    }
  }

  render(ul) {
    fill(ul);
    for (const g of this.catalogue.groups) {
      const layers = g.layers.filter((l) => this.state[l.name]);
      if (!layers.length) continue;
      const total = layers.reduce((s, l) => s + l.features, 0);
      ul.appendChild(h("li", { className: "group", dataset: { group: g.name } },
        h("span", {}, `${g.title} ${g.title_zh}`), h("span", { className: "count" }, String(total))));
      for (const layer of layers) {
        const box = h("input", { type: "checkbox", checked: this.state[layer.name].visible,
          title: "show", on: { change: () => this.set(layer.name, { visible: box.checked }) } });
        const range = h("input", { type: "range", min: 0, max: 100, value: 100, title: "opacity",
          on: { input: () => this.set(layer.name, { opacity: range.value / 100 }) } });
        ul.appendChild(h("li", { dataset: { layer: layer.name } }, box, swatch(layer.colour),
          h("span", { className: "title" }, layer.title, layer.title_zh ? ` ${layer.title_zh}` : ""),
          h("span", { className: "count" }, String(layer.features)), range));
      }
    }
  }
}

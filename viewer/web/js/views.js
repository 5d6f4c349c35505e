// Presentations: saved views, a guided tour and screenshots.
//
// A view is the camera (position and target), which layers show, the X-ray and
// section states and a caption. Views are kept in the browser (localStorage, per
// twin); a tour plays them in order with their captions, and config.json may ship a
// tour of its own. Captions come from the presenter and are shown as text.
import * as THREE from "three";
import { h, fill, byId } from "./dom.js";

export class Views {
  constructor(viewer, key, shipped = []) {
    this.viewer = viewer;
    this.shipped = Array.isArray(shipped) ? shipped : []; // config.json's "tour"

    this.key = `twin-viewer-views:${key}`;
    this.tour = null; // {views, index}
  }

  list() {
    try { return JSON.parse(localStorage.getItem(this.key) || "[]"); } catch { return []; }
  }

  _store(views) { localStorage.setItem(this.key, JSON.stringify(views)); this.render(); }

  capture(name, caption = "") {
    const v = this.viewer;
    return {
      name: String(name || `view ${this.list().length + 1}`), caption: String(caption),
      camera: v.stage.camera.position.toArray(), target: v.stage.controls.target.toArray(),
      layers: Object.fromEntries(Object.entries(v.layers.state).map(([k, s]) => [k, s.visible])),
      underground: !!v.state.underground,
      section: v.section.on ? { range: v.section.range } : null,
    };
  }

  save(name, caption) {
    const views = this.list().filter((x) => x.name !== String(name));
    views.push(this.capture(name, caption));
    this._store(views);
    return views;
  }

  remove(name) { this._store(this.list().filter((x) => x.name !== name)); }

  /** Go to a view; the camera glides there in `ms` milliseconds. */
  go(view, ms = 600) {
    const v = this.viewer;
    for (const [name, visible] of Object.entries(view.layers || {})) {
      if (v.layers.state[name]) {
        v.layers.set(name, { visible });
        const box = document.querySelector(`#layers li[data-layer="${CSS.escape(name)}"] input[type=checkbox]`);
        if (box) box.checked = visible;
      }
    }
    v.setUnderground(!!view.underground);
    v.section.set(view.section ? { on: true, range: view.section.range } : { on: false });
    byId("section").checked = !!view.section;
    const cam = v.stage.camera, ctl = v.stage.controls;
    const p0 = cam.position.clone(), t0 = ctl.target.clone();
    const p1 = new THREE.Vector3().fromArray(view.camera), t1 = new THREE.Vector3().fromArray(view.target);
    const start = performance.now();
    this.moving = new Promise((resolve) => {
      const step = () => {
        const t = ms > 0 ? Math.min(1, (performance.now() - start) / ms) : 1;
        const e = t * t * (3 - 2 * t);
        cam.position.lerpVectors(p0, p1, e);
        ctl.target.lerpVectors(t0, t1, e);
        ctl.update();
        v.stage.requestRender();
        if (t < 1) requestAnimationFrame(step); else resolve(view);
      };
      step();
    });
    return this.moving;
  }

  /** Start a tour of `views` (default: the saved views, else config.json's tour). */
  startTour(views = this.list().length ? this.list() : this.shipped) {
    if (!views.length) throw new Error("no views to tour: save a view first");
    this.tour = { views, index: -1 };
    byId("tour-bar").hidden = false;
    return this.step(1);
  }

  async step(delta) {
    if (!this.tour) return null;
    const n = this.tour.views.length;
    this.tour.index = Math.max(0, Math.min(n - 1, this.tour.index + delta));
    const view = this.tour.views[this.tour.index];
    fill(byId("tour-caption"), view.caption || view.name);
    fill(byId("tour-count"), `${this.tour.index + 1} / ${n}`);
    await this.go(view);
    return view;
  }

  endTour() { this.tour = null; byId("tour-bar").hidden = true; }

  render() {
    fill(byId("views"), this.list().map((view) => h("li", {},
      h("button", { type: "button", className: "link", title: view.caption,
        on: { click: () => this.go(view) } }, view.name),
      h("button", { type: "button", className: "del", title: "delete this view",
        on: { click: () => this.remove(view.name) } }, "×"))));
  }

  /** The canvas as a PNG file the browser downloads. */
  screenshot() {
    const v = this.viewer;
    v.stage.renderer.render(v.stage.scene, v.stage.camera);
    return new Promise((resolve) => v.stage.renderer.domElement.toBlob((blob) => {
      const a = h("a", { href: URL.createObjectURL(blob),
        download: `twin-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}.png` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      resolve(blob.size);
    }, "image/png"));
  }

  bind() {
    byId("view-save").addEventListener("click", () => {
      this.save(byId("view-name").value.trim() || undefined, byId("view-caption").value.trim());
      byId("view-name").value = "";
      byId("view-caption").value = "";
    });
    byId("tour-start").addEventListener("click", () => {
      try { this.startTour(); } catch (e) { this.viewer.showError(e); }
    });
    byId("tour-prev").addEventListener("click", () => this.step(-1));
    byId("tour-next").addEventListener("click", () => this.step(1));
    byId("tour-end").addEventListener("click", () => this.endTour());
    byId("screenshot").addEventListener("click", () => this.screenshot());
    this.render();
  }
}

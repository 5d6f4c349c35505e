// The twin's web viewer: three.js over the twin API, plain ES modules (no build step).
//
// The scene comes from a scene source (js/sources.js): the district's lean GLB
// (/twin/viewer/scene.glb: a merged mesh per layer with per-vertex feature ids,
// repeated fittings instanced, pipe centrelines) or, for whole cities, the 3D Tiles
// stream. Search, pick, highlight, colour by attribute, readings, section and measure all work
// on the source's chunks, so both answer the same. Data from the twin reaches the
// page as text only (js/dom.js). `window.twinViewer` exposes the state for tests.
import * as THREE from "three";
import { Api } from "./js/api.js";
import { byId, fill } from "./js/dom.js";
import { Stage, twinToView, boxOfBbox } from "./js/stage.js";
import { GlbSource, TilesSource } from "./js/sources.js";
import { Layers } from "./js/layers.js";
import { Card } from "./js/card.js";
import { Analysis } from "./js/analysis.js";
import { Dashboard } from "./js/dashboard.js";
import { SectionBox, Measure } from "./js/tools.js";
import { Views } from "./js/views.js";
import { Basemap } from "./js/basemap.js";
import { Readings } from "./js/readings.js";
import { Changes } from "./js/changes.js";

const params = new URLSearchParams(window.location.search);
const state = { ready: false, error: null, picked: null, highlight: null, measurement: null,
  underground: false, t0: performance.now() };
window.twinViewer = state;

const viewer = { api: new Api(), stage: new Stage(byId("scene")), state };
viewer.showError = (err) => {
  state.error = String(err && err.message ? err.message : err);
  fill(byId("status"), `error: ${state.error}`);
};
state.viewer = viewer;

// -- picking -----------------------------------------------------------------------
function hitAt(x, y) {
  const ray = viewer.stage.rayAt(x, y);
  const objects = [...viewer.source.chunks].filter((c) => c.object.visible).map((c) => c.object);
  for (const hit of ray.intersectObjects(objects, false)) {
    const chunk = hit.object.userData.chunk;
    const k = chunk.rowOfHit(hit);
    // see-through layers (X-ray, faded by a highlight) let clicks pass to what lies behind
    if (k < 0 || chunk.material.opacity * chunk.alphaOf(k) <= 0.3) continue;
    if (viewer.section.on && !viewer.section.box().containsPoint(hit.point)) continue;
    return { point: hit.point, featureId: chunk.rows[k].id, chunk, row: k };
  }
  return null;
}
state.hitAt = (x, y) => { const h = hitAt(x, y); return h && { featureId: h.featureId, point: h.point.toArray() }; };

async function pick(id) {
  state.picked = null;
  viewer.selected = id;
  viewer.analysis.restyle();
  const detail = await viewer.api.json(`twin/features/${encodeURIComponent(id)}`);
  state.picked = detail.id;
  state.pickedDetail = detail;
  viewer.card.show(detail);
  return detail;
}
state.pick = pick;

/** Bounds of a feature in the viewer frame: from the loaded chunks, else from the
 * API's bbox (a feature of a tile not streamed yet). */
async function boundsOf(id) {
  const local = localBounds(id);
  if (local) return local;
  const detail = await viewer.api.json(`twin/features/${encodeURIComponent(id)}`);
  return detail.bbox ? boxOfBbox(detail.bbox, state.origin) : null;
}
function localBounds(id) {
  const found = viewer.source.find(id);
  if (!found.length) return null;
  const box = new THREE.Box3();
  for (const { chunk, row } of found) box.union(chunk.boundsOf(row));
  return box;
}

async function flyTo(id) {
  const box = await boundsOf(id);
  if (!box) return false;
  viewer.stage.lookAt(box);
  return true;
}
state.flyTo = flyTo;

/** Search by id (exact), then by name or id among the loaded features, then by name
 * in the whole twin (the API): the same answer whatever the scene source. */
async function search(text) {
  const q = text.trim();
  if (!q) return null;
  try {
    const d = await viewer.api.json(`twin/features/${encodeURIComponent(q)}`);
    return d.id;
  } catch { /* not an id */ }
  const res = await viewer.api.json(`twin/search?limit=1&where=${encodeURIComponent(`name like %${q}%`)}`);
  if (res.features.length) return res.features[0].id;
  const low = q.toLowerCase();
  for (const [row] of viewer.source.rows()) {
    if (row.id.toLowerCase().includes(low)) return row.id;
  }
  return null;
}
state.search = async (text) => {
  const id = await search(text);
  if (!id) { fill(byId("status"), `nothing found for “${text}”`); return null; }
  await flyTo(id);
  await pick(id);
  return id;
};

// screen positions, for scripted clicks
state.screenPosition = (id) => {
  const box = localBounds(id);
  return box ? viewer.stage.toScreen(box.getCenter(new THREE.Vector3())) : null;
};
state.screenOfTwinPoint = (p) => viewer.stage.toScreen(twinToView(p, state.origin));
state.loadProgress = () => viewer.source.progress;
state.features = () => [...viewer.source.rows()].map(([row, chunk]) => ({ ...row, layer: chunk.layer }));
state.featureIds = (layer) => [...viewer.source.rows()].filter(([, c]) => !layer || c.layer === layer).map(([r]) => r.id);
state.colouredIds = () => [...viewer.analysis.colouredIds()].sort();
state.drawCalls = () => viewer.stage.renderer.info.render.calls;

// -- analyses and colours ----------------------------------------------------------------
async function showHighlight(kind) {
  let res = null;
  if (kind) {
    let analysis = kind;
    if (kind === "renewal") analysis = `renewal:${state.year}`;
    if (kind === "isolation") {
      if (!state.picked) throw new Error("pick a pipe segment first");
      analysis = `isolation:${state.picked}`;
    }
    if (kind === "changes") analysis = await viewer.changes.spec();
    res = await viewer.api.json(`twin/analyses/highlight?geometry=true&analysis=${encodeURIComponent(analysis)}`);
  }
  viewer.changes.showRow(kind === "changes");
  viewer.dashboard.active = null;
  viewer.dashboard.render();
  viewer.analysis.show(res);
  state.highlight = res;
  return res;
}
state.showHighlight = showHighlight;
state.showIndicator = (key) => viewer.dashboard.show(key);
state.colourBy = (name, layer = "buildings") => viewer.analysis.colourBy(layer, name);
// readings mode (js/readings.js): a property's values on the features at a slider's time
state.showReadings = (property) => viewer.readings.show(property);
state.setReadingsTime = (at) => viewer.readings.setTime(at);
state.readings = () => viewer.readings.state();
/** The colour a loaded feature is drawn in now (#rrggbb, sRGB), from its chunk's style. */
state.featureColour = (id) => {
  const found = viewer.source.find(id)[0];
  if (!found) return null;
  const { chunk, row } = found;
  if (chunk.kind === "lines") {
    const s = chunk.segmentRow.indexOf(row);
    const a = chunk.object.geometry.getAttribute("instanceColorStart");
    return `#${new THREE.Color(a.getX(s), a.getY(s), a.getZ(s)).getHexString()}`;
  }
  const d = chunk.texture.image.data;
  return "#" + [0, 1, 2].map((i) => d[row * 4 + i].toString(16).padStart(2, "0")).join("");
};

function setUnderground(on) {
  state.underground = on;
  byId("underground").checked = on;
  viewer.layers.setXray(on);
}
viewer.setUnderground = setUnderground;

// -- wiring the page -----------------------------------------------------------------
function bindControls() {
  const canvas = viewer.stage.renderer.domElement;
  let down = null;
  canvas.addEventListener("pointerdown", (ev) => { down = [ev.clientX, ev.clientY]; });
  canvas.addEventListener("click", (ev) => {
    if (down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) > 4) return; // a drag
    const hit = hitAt(ev.clientX, ev.clientY);
    if (viewer.measure.mode) {
      if (hit) state.measurement = viewer.measure.click(hit.point);
      return;
    }
    if (hit) pick(hit.featureId).catch(viewer.showError);
  });
  canvas.addEventListener("dblclick", () => {
    if (viewer.measure.mode === "area") state.measurement = viewer.measure.close();
  });
  byId("measure").addEventListener("change", (ev) => {
    viewer.measure.setMode(ev.target.value);
    state.measurement = null;
  });
  byId("highlight").addEventListener("change", (ev) => {
    showHighlight(ev.target.value).catch((err) => { ev.target.value = ""; viewer.showError(err); });
  });
  byId("changes-since").addEventListener("change", () => {
    showHighlight("changes").catch(viewer.showError);
  });
  byId("colour-by").addEventListener("change", (ev) => {
    state.colourBy(ev.target.value).catch(viewer.showError);
  });
  byId("underground").addEventListener("change", (ev) => setUnderground(ev.target.checked));
  byId("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.search(byId("query").value).catch(viewer.showError);
  });
  byId("home").addEventListener("click", () => state.home());
  const sunInputs = () => {
    const [y, m, d] = byId("sun-date").value.split("-").map(Number);
    const minutes = Number(byId("sun-time").value);
    const date = new Date(y, m - 1, d, Math.floor(minutes / 60), minutes % 60);
    fill(byId("sun-label"), `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`);
    state.sun = viewer.stage.setSun(date, state.lonlat);
  };
  byId("sun-date").addEventListener("change", sunInputs);
  byId("sun-time").addEventListener("input", sunInputs);
  state.setSun = (iso) => {
    const d = new Date(iso);
    byId("sun-date").value = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    byId("sun-time").value = d.getHours() * 60 + d.getMinutes();
    sunInputs();
    return state.sun;
  };
  byId("basemap").addEventListener("change", (ev) => {
    viewer.basemap.enable(ev.target.checked).then((r) => { state.basemap = r; }, viewer.showError);
  });
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll("#tabs button")) t.classList.toggle("on", t === tab);
      for (const p of document.querySelectorAll(".tab")) p.hidden = p.id !== tab.dataset.tab;
    });
  }
  viewer.section.bind();
  viewer.views.bind();
  viewer.readings.bind();
}

async function colourChoices() {
  if (!viewer.layers.state.buildings) return;
  const res = await viewer.api.json("twin/viewer/attributes/buildings");
  const select = byId("colour-by");
  for (const a of res.attributes) {
    const label = `${a.name.replace(/_/g, " ")}${a.label_zh ? " " + a.label_zh : ""}`;
    select.appendChild(Object.assign(document.createElement("option"), { value: a.name, textContent: label }));
  }
}

async function load() {
  const [summary, catalogue, grid, config] = await Promise.all([
    viewer.api.json("twin"), viewer.api.json("twin/viewer/catalogue"),
    viewer.api.json("twin/viewer/map?n=2"),
    fetch("config.json").then((r) => (r.ok ? r.json() : {})).catch(() => ({}))]);
  const b = summary.bounds;
  if (!b) throw new Error("the twin is empty: import something first (twin import ...)");
  state.origin = summary.origin || [b[0], b[1], b[2]];
  state.year = Number(params.get("year")) || new Date().getFullYear();
  fill(byId("title"), `Digital twin: ${summary.features.toLocaleString("en")} features`);
  const wantTiles = params.get("tiles");
  // ?region=1 on a region's server (twin serve --members): its own and its members'
  // 3D Tiles as one scene, members' tilesets opened as the camera nears them
  const region = params.get("region") === "1";
  if (region) summary.tiles = "/federation/tileset.json";
  const tiled = summary.tiles && wantTiles !== "0" &&
    (region || wantTiles === "1" || summary.features > 20000);
  const options = { lineWidth: 2, resolution: viewer.stage.resolution };
  viewer.source = tiled ? new TilesSource(viewer.api, summary, options)
    : new GlbSource(viewer.api, summary, options);
  const layerTitles = {};
  for (const g of catalogue.groups) for (const l of g.layers) layerTitles[l.name] = `${l.title} ${l.title_zh}`;
  viewer.layers = new Layers(viewer, catalogue);
  viewer.card = new Card(catalogue.attributes, layerTitles);
  viewer.analysis = new Analysis(viewer);
  viewer.dashboard = new Dashboard(viewer);
  viewer.readings = new Readings(viewer);
  viewer.changes = new Changes(viewer);
  viewer.card.extraRows = (detail, card) => viewer.readings.cardRows(detail, card);
  viewer.section = new SectionBox(viewer);
  viewer.measure = new Measure(viewer);
  viewer.views = new Views(viewer, summary.crs?.uri + ":" + b.join(","), config.tour);
  const basemap = params.get("basemap") ? { url: params.get("basemap"), attribution: params.get("attribution") || "" }
    : config.basemap;
  viewer.basemap = new Basemap(viewer, basemap);
  byId("basemap-row").hidden = !viewer.basemap.available;
  viewer.stage.setBounds(boxOfBbox(b, state.origin));
  viewer.source.addEventListener("chunk", ({ chunk }) => {
    viewer.layers.add(chunk.layer);
    chunk.applyStyle((row, layer) => viewer.analysis.styleOf(row, layer));
    viewer.layers.applyTo(chunk);
    chunk.setClipping(viewer.section.planes);
    viewer.stage.requestRender(true);
  });
  viewer.source.addEventListener("chunk-removed", () => viewer.stage.requestRender(true));
  viewer.source.addEventListener("change", () => viewer.stage.requestRender());
  viewer.stage.scene.add(viewer.source.root);
  if (tiled) {
    // a whole city streams: a shadow map over kilometres would be redrawn for every tile
    // that arrives and still resolve metres; the sun lights it without shadows
    viewer.stage.shadows = false;
    // tiles carry every layer with meshes: all but plain lines (road centrelines)
    for (const g of catalogue.groups) {
      for (const l of g.layers) if (l.features > 0 && (l.geometry_type !== "LINESTRING" || l.code)) viewer.layers.add(l.name);
    }
    await viewer.source.load(viewer.stage.camera, viewer.stage.renderer);
    fill(byId("status"), "streaming 3D Tiles");
    viewer.source.addEventListener("chunk", () => fill(byId("status"), `${viewer.source.tilesLoaded} tiles streamed (3D Tiles)`));
  } else {
    await viewer.source.load();
    fill(byId("status"), `${[...viewer.source.rows()].length.toLocaleString("en")} features shown`);
  }
  // the lowest ground (terrain) in the viewer frame: below it the camera sees the networks
  const ground = new THREE.Box3();
  for (const ch of viewer.source.chunks) if (ch.layer === "terrain") ground.union(new THREE.Box3().setFromObject(ch.object));
  viewer.groundLevel = ground.isEmpty() ? undefined : ground.min.y;
  const box = viewer.stage.bounds;
  const c = box.getCenter(new THREE.Vector3()), size = box.getSize(new THREE.Vector3());
  state.home = () => {
    viewer.stage.controls.target.copy(c);
    viewer.stage.camera.position.set(c.x - size.x * 0.2, c.y + Math.max(size.x, size.z) * 0.6, c.z + size.z * 0.9);
    viewer.stage.controls.update();
    viewer.stage.camera.updateMatrixWorld();
    viewer.stage.requestRender();
  };
  state.home();
  viewer.layers.render(byId("layers"));
  state.layers = viewer.layers.state;
  state.mode = viewer.source.mode;
  Object.defineProperty(state, "tilesLoaded", { get: () => viewer.source.tilesLoaded || 0 });
  bindControls();
  state.lonlat = grid.centre;
  state.setSun(params.get("sun") || config.sun || defaultSun());
  state.ready = true;
  state.readyAt = performance.now() - state.t0;
  // what can wait until the scene is on screen
  Promise.all([viewer.dashboard.load(state.year), colourChoices(), viewer.readings.load()]).then(() => { state.panelsReady = true; },
    viewer.showError);
}

// ten in the morning of today: a sun that casts readable shadows
function defaultSun() {
  const d = new Date();
  d.setHours(10, 0, 0, 0);
  return d.toISOString();
}

viewer.stage.start(() => {
  if (!viewer.source) return false;
  viewer.source.update(viewer.stage.camera, viewer.stage.renderer);
  return viewer.source.mode === "tiles" && viewer.source.progress < 1;
});
viewer.stage.beforeFrame.push(() => {
  if (viewer.layers) viewer.layers.exposure(viewer.stage.camera.position.y);
});
viewer.stage.frameHooks.push(() => {
  if (state.ready && state.firstFrameAt === undefined) state.firstFrameAt = performance.now() - state.t0;
});
load().catch(viewer.showError);

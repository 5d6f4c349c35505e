// The twin's web viewer: three.js over the twin API.
//
// The scene comes from /twin/scene.glb: vertices relative to the twin's local
// origin (no float32 jitter at city coordinates), one glTF node per feature
// with its id and key attributes in `extras`, grouped per layer and coloured by
// the layer catalogue (/twin/layers). Picking asks /twin/features/{id} for the
// whole feature. `window.twinViewer` exposes the state for tests and scripts.

import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { LineSegments2 } from "three/addons/lines/LineSegments2.js";
import { LineSegmentsGeometry } from "three/addons/lines/LineSegmentsGeometry.js";
import { LineMaterial } from "three/addons/lines/LineMaterial.js";
import { TilesRenderer } from "3d-tiles-renderer";

const api = new URL("..", window.location.href); // the viewer lives at /viewer/
const el = (id) => document.getElementById(id);
const state = { ready: false, layers: {}, features: {}, error: null, picked: null };
window.twinViewer = state;

const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
renderer.localClippingEnabled = true;
el("scene").appendChild(renderer.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xdfe6ee);
const camera = new THREE.PerspectiveCamera(45, 1, 1, 20000);
const controls = new OrbitControls(camera, renderer.domElement);
controls.maxPolarAngle = Math.PI; // free to look from below ground
scene.add(new THREE.HemisphereLight(0xffffff, 0x667788, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(300, 600, 200);
scene.add(sun);
const clip = new THREE.Plane(new THREE.Vector3(0, -1, 0), 1e6);

function resize() {
  const w = window.innerWidth, h = window.innerHeight;
  renderer.setSize(w, h);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener("resize", resize);
resize();

async function getJSON(path) {
  const r = await fetch(new URL(path, api));
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.json()).detail || ""}`);
  return r.json();
}

const SURFACE = new Set(["terrain", "roads", "landuse", "vegetation", "water"]);

function setLayerOpacity(name, opacity) {
  const group = state.layers[name];
  if (!group) return;
  group.traverse((o) => {
    if (o.isMesh) {
      o.material.transparent = opacity < 1;
      o.material.opacity = opacity;
      o.material.depthWrite = opacity >= 1;
      o.material.needsUpdate = true;
    }
  });
}

function buildPanel(catalogue) {
  const ul = el("layers");
  for (const layer of catalogue.layers) {
    if (!state.layers[layer.name]) continue;
    const li = document.createElement("li");
    li.dataset.layer = layer.name;
    li.innerHTML = `<input type="checkbox" checked>` +
      `<span class="swatch" style="background:${layer.colour}"></span>` +
      `<span>${layer.title}${layer.title_zh ? " " + layer.title_zh : ""}</span>` +
      `<input type="range" min="0" max="100" value="100" title="opacity">`;
    const [box, , , range] = li.children;
    box.addEventListener("change", () => { state.layers[layer.name].visible = box.checked; });
    range.addEventListener("input", () => setLayerOpacity(layer.name, range.value / 100));
    ul.appendChild(li);
  }
}

function showInfo(detail) {
  el("info").hidden = false;
  el("info-title").textContent = `${detail.type} ${detail.name || ""}`;
  const rows = [["id", detail.id], ["layer", detail.layer], ["parent", detail.parent || ""]];
  for (const [k, v] of Object.entries(detail.attributes)) rows.push([k, JSON.stringify(v)]);
  if (detail.provenance) rows.push(["source", detail.provenance.source_file]);
  el("info-table").innerHTML = rows.map(([k, v]) =>
    `<tr><td>${k}</td><td>${String(v).replace(/</g, "&lt;")}</td></tr>`).join("");
}

let highlighted = null;
async function pick(id) {
  const node = state.features[id];
  if (highlighted) highlighted.material.emissive.setHex(0x000000);
  if (node && node.isMesh) {
    node.material = node.material.clone();
    node.material.emissive.setHex(0x884400);
    highlighted = node;
  }
  const detail = await getJSON(`twin/features/${encodeURIComponent(id)}`);
  state.picked = detail.id;
  showInfo(detail);
  return detail;
}
state.pick = pick;

function flyTo(id) {
  const node = state.features[id];
  if (!node) return false;
  const box = new THREE.Box3().setFromObject(node);
  const c = box.getCenter(new THREE.Vector3());
  const r = Math.max(box.getSize(new THREE.Vector3()).length(), 20);
  controls.target.copy(c);
  camera.position.set(c.x + r, c.y + r, c.z + r);
  controls.update();
  camera.updateMatrixWorld();
  return true;
}
state.flyTo = flyTo;

// a point of this viewer's frame to page pixels (for scripted clicks)
function toScreen(v) {
  camera.updateMatrixWorld();
  const p = v.clone().project(camera);
  const rect = renderer.domElement.getBoundingClientRect();
  return { x: rect.left + (p.x + 1) / 2 * rect.width, y: rect.top + (1 - p.y) / 2 * rect.height };
}

// screen position of a point of the twin CRS (E, N, H)
state.screenOfTwinPoint = (p) => {
  const o = state.origin;
  return toScreen(new THREE.Vector3(p[0] - o[0], p[2] - o[2], -(p[1] - o[1])));
};
state.loadProgress = () => (state.tiles ? state.tiles.loadProgress : 1);

// screen position of a feature's centre
state.screenPosition = (id) => {
  const node = state.features[id];
  if (!node) return null;
  return toScreen(new THREE.Box3().setFromObject(node).getCenter(new THREE.Vector3()));
};

const ray = new THREE.Raycaster();
function hitAt(ev) {
  const rect = renderer.domElement.getBoundingClientRect();
  const p = new THREE.Vector2(((ev.clientX - rect.left) / rect.width) * 2 - 1,
    -((ev.clientY - rect.top) / rect.height) * 2 + 1);
  ray.setFromCamera(p, camera);
  // see-through layers (X-ray surfaces, faded layers) let clicks pass to what lies behind
  const roots = state.tiles ? [state.tiles.group] :
    Object.values(state.layers).filter((g) => g.visible);
  const hits = ray.intersectObjects(roots, true)
    .filter((h) => h.object.visible && h.object.material.opacity > 0.3 && featureOfHit(h));
  if (!hits.length) return null;
  hits[0].featureId = featureOfHit(hits[0]);
  return hits[0];
}

// the feature a ray hit: a scene node's own id, or in a merged tile mesh the row of
// its layer's feature table that the hit vertex's _FEATURE_ID_0 points at
function featureOfHit(h) {
  const ud = h.object.userData;
  if (ud.id) return ud.id;
  const ids = h.object.geometry.getAttribute("_feature_id_0");
  if (!ids || !ud.features || !h.face) return null;
  const row = ud.features[Math.round(ids.getX(h.face.a))];
  return row ? row.id : null;
}

// -- distance measurement: two clicks, a line, the 3D, horizontal and height difference
const measureGroup = new THREE.Group();
scene.add(measureGroup);
let measureStart = null;
function toTwin(p) { // glTF (x east, y up, z south) -> twin CRS offsets from the origin
  return { e: p.x, n: -p.z, h: p.y };
}
function measureClick(point) {
  const marker = new THREE.Mesh(new THREE.SphereGeometry(1.2, 12, 8),
    new THREE.MeshBasicMaterial({ color: 0xff2080, depthTest: false }));
  marker.position.copy(point);
  marker.renderOrder = 10;
  if (!measureStart) {
    measureGroup.clear();
    measureGroup.add(marker);
    measureStart = point.clone();
    el("measurement").textContent = "click the second point";
    return;
  }
  measureGroup.add(marker);
  const line = new THREE.Line(new THREE.BufferGeometry().setFromPoints([measureStart, point]),
    new THREE.LineBasicMaterial({ color: 0xff2080, depthTest: false }));
  line.renderOrder = 10;
  measureGroup.add(line);
  const a = toTwin(measureStart), b = toTwin(point);
  const horizontal = Math.hypot(b.e - a.e, b.n - a.n);
  const dz = b.h - a.h;
  state.measurement = { distance: Math.hypot(horizontal, dz), horizontal, dz, from: a, to: b };
  el("measurement").textContent = `${state.measurement.distance.toFixed(2)} m ` +
    `(horizontal ${horizontal.toFixed(2)} m, height ${dz >= 0 ? "+" : ""}${dz.toFixed(2)} m)`;
  measureStart = null;
}

renderer.domElement.addEventListener("click", (ev) => {
  const hit = hitAt(ev);
  if (el("measure").checked) {
    if (hit) measureClick(hit.point);
    return;
  }
  if (hit) pick(hit.featureId).catch(showError);
});
el("measure").addEventListener("change", (ev) => {
  measureStart = null;
  if (!ev.target.checked) { measureGroup.clear(); el("measurement").textContent = ""; }
});

// -- analysis highlighting: coloured result sets from the API, the rest faded
const FADED = 0.15;
const highlightGroup = new THREE.Group();
scene.add(highlightGroup);
function thickLines(lines, colour) { // twin offsets (e, n, h) -> glTF axes, 4 px wide
  const pos = [];
  for (const ln of lines) {
    for (let i = 0; i + 1 < ln.length; i++) {
      const [a, b] = [ln[i], ln[i + 1]];
      pos.push(a[0], a[2], -a[1], b[0], b[2], -b[1]);
    }
  }
  const geom = new LineSegmentsGeometry().setPositions(pos);
  const mat = new LineMaterial({ color: colour, linewidth: 4, depthTest: false });
  mat.resolution.set(renderer.domElement.width, renderer.domElement.height);
  const obj = new LineSegments2(geom, mat);
  obj.renderOrder = 5;
  return obj;
}
function thickPoints(points, colour) {
  const group = new THREE.Group();
  for (const p of points) {
    const m = new THREE.Mesh(new THREE.SphereGeometry(2.0, 12, 8),
      new THREE.MeshBasicMaterial({ color: colour, depthTest: false }));
    m.position.set(p[0], p[2], -p[1]);
    m.renderOrder = 6;
    group.add(m);
  }
  return group;
}
async function showHighlight(kind) {
  highlightGroup.clear();
  for (const node of Object.values(state.features)) {
    if (node.userData.baseMaterial) {
      node.material = node.userData.baseMaterial;
      delete node.userData.baseMaterial;
    }
  }
  el("legend").innerHTML = "";
  state.highlight = null;
  if (!kind) return null;
  let analysis = kind;
  if (kind === "renewal") analysis = `renewal:${new Date().getFullYear()}`;
  if (kind === "isolation") {
    if (!state.picked) throw new Error("pick a pipe segment first");
    analysis = `isolation:${state.picked}`;
  }
  const res = await getJSON(
    `twin/analyses/highlight?geometry=true&analysis=${encodeURIComponent(analysis)}`);
  for (const g of res.groups) {
    if (g.lines && g.lines.length) highlightGroup.add(thickLines(g.lines, g.colour));
    if (g.points && g.points.length) highlightGroup.add(thickPoints(g.points, g.colour));
  }
  const colour = {};
  for (const g of [...res.groups].reverse()) for (const id of g.ids) colour[id] = g.colour;
  for (const [id, node] of Object.entries(state.features)) {
    node.userData.baseMaterial = node.material;
    const m = node.material.clone();
    if (colour[id]) {
      m.color.set(colour[id]);
      m.emissive.set(colour[id]).multiplyScalar(0.35);
      m.transparent = false; m.opacity = 1; m.depthWrite = true;
    } else {
      m.transparent = true; m.opacity = Math.min(m.opacity, FADED); m.depthWrite = false;
    }
    node.material = m;
  }
  el("legend").innerHTML = `<b>${res.title.replace(/</g, "&lt;")}</b>` + res.groups
    .filter((g) => g.ids.length).map((g) =>
      `<div><span class="swatch" style="background:${g.colour}"></span>${g.label} ` +
      `(${g.ids.length})</div>`).join("");
  state.highlight = res;
  return res;
}
state.showHighlight = showHighlight;
el("highlight").addEventListener("change", (ev) => {
  showHighlight(ev.target.value).catch((err) => { ev.target.value = ""; showError(err); });
});

el("underground").addEventListener("change", (ev) => {
  for (const name of Object.keys(state.layers)) {
    if (SURFACE.has(name)) setLayerOpacity(name, ev.target.checked ? 0.25 : 1);
  }
  state.underground = ev.target.checked;
});
el("clip").addEventListener("input", (ev) => {
  const b = state.bounds;
  if (!b) return;
  const h = b.min.y + (b.max.y - b.min.y) * ev.target.value / 100;
  clip.constant = ev.target.value >= 100 ? 1e6 : h;
});
el("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = el("query").value.trim();
  if (flyTo(id)) pick(id).catch(showError);
  else el("status").textContent = `no feature ${id} in this scene`;
});
el("close").addEventListener("click", () => { el("info").hidden = true; });

function showError(err) {
  state.error = String(err);
  el("status").textContent = `error: ${err.message || err}`;
}

// a layer of a streamed tileset: its meshes come and go with the tiles
class TileLayer {
  constructor(name) { this.name = name; this._visible = true; }
  each(fn) {
    state.tiles.group.traverse((o) => { if (o.userData.layer === this.name) fn(o); });
  }
  get visible() { return this._visible; }
  set visible(v) { this._visible = v; this.each((o) => { o.visible = v; }); }
  traverse(fn) { this.each((o) => o.traverse(fn)); }
}

async function loadTiles(summary, catalogue) {
  const tileset = await getJSON(summary.tiles.replace(/^\//, ""));
  // Earth-centred tiles -> the twin's local frame (z up) -> this viewer's (y up)
  const frame = new THREE.Matrix4().fromArray(tileset.asset.extras.local_frame);
  const holder = new THREE.Group();
  holder.matrixAutoUpdate = false;
  holder.matrix.makeRotationX(-Math.PI / 2).multiply(frame.clone().invert());
  const tiles = new TilesRenderer(new URL(summary.tiles.replace(/^\//, ""), api).href);
  tiles.setCamera(camera);
  tiles.setResolutionFromRenderer(camera, renderer);
  state.tiles = tiles;
  state.tilesLoaded = 0;
  for (const layer of catalogue.layers) {
    if (layer.features > 0) state.layers[layer.name] = new TileLayer(layer.name);
  }
  tiles.addEventListener("load-model", ({ scene: model }) => {
    model.traverse((o) => {
      if (o.isMesh) {
        o.material.clippingPlanes = [clip];
        const layer = o.userData.layer && state.layers[o.userData.layer];
        if (layer) o.visible = layer.visible;
      }
    });
    state.tilesLoaded += 1;
    el("status").textContent = `${state.tilesLoaded} tiles streamed (3D Tiles)`;
  });
  holder.add(tiles.group);
  scene.add(holder);
}

async function load() {
  const summary = await getJSON("twin");
  const catalogue = await getJSON("twin/layers");
  el("title").textContent = `Digital twin: ${summary.features} features`;
  const b = summary.bounds;
  const o = summary.origin || [b[0], b[1], b[2]];
  state.origin = o;
  const wantTiles = new URLSearchParams(window.location.search).get("tiles");
  const tiled = summary.tiles && wantTiles !== "0" && (wantTiles === "1" ||
    summary.features > 20000);
  if (tiled) {
    await loadTiles(summary, catalogue);
    state.bounds = new THREE.Box3(new THREE.Vector3(b[0] - o[0], b[2] - o[2], -(b[4] - o[1])),
      new THREE.Vector3(b[3] - o[0], b[5] - o[2], -(b[1] - o[1])));
  } else {
    const bbox = [b[0], b[1], b[3], b[4]].join(",");
    const gltf = await new GLTFLoader().loadAsync(
      new URL(`twin/scene.glb?bbox=${bbox}`, api).href);
    const root = gltf.scene;
    root.traverse((obj) => {
      if (obj.userData && obj.userData.layer && !obj.userData.id) {
        state.layers[obj.userData.layer] = obj;
      }
      if (obj.isMesh) {
        obj.material.clippingPlanes = [clip];
        // the glTF node holding the mesh carries the feature's extras
        const holder = obj.userData.id ? obj : obj.parent;
        if (holder && holder.userData.id) {
          obj.userData = holder.userData;
          state.features[holder.userData.id] = obj;
        }
      }
    });
    scene.add(root);
    state.bounds = new THREE.Box3().setFromObject(root);
  }
  const c = state.bounds.getCenter(new THREE.Vector3());
  const size = state.bounds.getSize(new THREE.Vector3());
  state.home = () => {
    controls.target.copy(c);
    camera.position.set(c.x - size.x * 0.2, c.y + Math.max(size.x, size.z) * 0.6,
      c.z + size.z * 0.9);
    controls.update();
    camera.updateMatrixWorld();
  };
  state.home();
  buildPanel(catalogue);
  if (!tiled) el("status").textContent = `${Object.keys(state.features).length} features shown`;
  state.mode = tiled ? "tiles" : "scene";
  state.ready = true;
}

function animate() {
  controls.update();
  if (state.tiles) {
    camera.updateMatrixWorld();
    state.tiles.setResolutionFromRenderer(camera, renderer);
    state.tiles.update();
  }
  renderer.render(scene, camera);
  requestAnimationFrame(animate);
}
animate();
load().catch(showError);

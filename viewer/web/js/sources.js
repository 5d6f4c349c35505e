// Scene sources: where the features on screen come from.
//
// A source is an EventTarget with a `root` (added to the scene), a set of `chunks`
// (see chunks.js) and `progress` (0..1). It fires "chunk" when a chunk arrives and
// "chunk-removed" when one goes (tiles come and go with the camera), and "change"
// when it needs a redraw. Everything else (search, pick, highlight, colour by
// attribute, section, measure) works on chunks, so the one-GLB scene of a district
// and the 3D Tiles stream of a whole city answer the same.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { TilesRenderer } from "3d-tiles-renderer";
import { Chunk } from "./chunks.js";

class SceneSource extends EventTarget {
  constructor(options) {
    super();
    this.root = new THREE.Group();
    this.chunks = new Set();
    this.options = options; // {lineWidth, resolution}
  }

  get progress() { return 1; }

  update() { }

  _add(chunk) {
    this.chunks.add(chunk);
    this.dispatchEvent(Object.assign(new Event("chunk"), { chunk }));
  }

  _remove(chunk) {
    if (!this.chunks.delete(chunk)) return;
    chunk.dispose();
    this.dispatchEvent(Object.assign(new Event("chunk-removed"), { chunk }));
  }

  /** Chunks of glTF content: nodes whose extras carry a feature table. */
  _chunksOf(model) {
    const found = [];
    model.traverse((o) => {
      const ud = o.userData;
      if (!ud || !Array.isArray(ud.features) || !ud.layer) return;
      const kind = ud.kind || (o.isInstancedMesh ? "instanced" : "merged");
      const mesh = o.isMesh || o.isLineSegments ? o : o.children.find((c) => c.isMesh);
      if (!mesh) return;
      // feature ids are unique in a GLB (they index its one EXT_structural_metadata
      // property table, what CesiumJS reads); this node's rows start at its offset
      const offset = ud.feature_offset || 0;
      const ids = mesh.geometry.getAttribute("_feature_id_0");
      if (offset && ids && kind !== "instanced") {
        for (let i = 0; i < ids.count; i++) ids.setX(i, ids.getX(i) - offset);
        ids.needsUpdate = true;
      }
      found.push([mesh, ud.layer, ud.features, kind]);
    });
    const chunks = [];
    for (const [mesh, layer, rows, kind] of found) {
      const c = new Chunk(mesh, layer, rows, kind, this.options);
      if (c.object !== mesh) mesh.parent.add(c.object), mesh.parent.remove(mesh);
      chunks.push(c);
    }
    return chunks;
  }

  /** [{chunk, row: k}] of a feature id among what is loaded now. */
  find(id) {
    const out = [];
    for (const c of this.chunks) {
      const k = c.index.get(id);
      if (k !== undefined) out.push({ chunk: c, row: k });
    }
    return out;
  }

  /** Every loaded feature row once: [row, chunk] pairs. */
  *rows() {
    const seen = new Set();
    for (const c of this.chunks) {
      for (const r of c.rows) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        yield [r, c];
      }
    }
  }
}

/** The district as one lean GLB (/twin/viewer/scene.glb). */
export class GlbSource extends SceneSource {
  constructor(api, summary, options) {
    super(options);
    this.api = api;
    this.summary = summary;
    this.mode = "scene";
  }

  async load() {
    const b = this.summary.bounds;
    const bbox = [b[0], b[1], b[3], b[4]].join(",");
    const gltf = await new GLTFLoader().loadAsync(this.api.url(`twin/viewer/scene.glb?bbox=${bbox}`).href);
    this.root.add(gltf.scene);
    for (const c of this._chunksOf(gltf.scene)) this._add(c);
  }
}

/** A 3D Tiles 1.1 tileset (/tiles/tileset.json) streamed by the 3d-tiles-renderer. */
export class TilesSource extends SceneSource {
  constructor(api, summary, options) {
    super(options);
    this.api = api;
    this.summary = summary;
    this.mode = "tiles";
    this.tilesLoaded = 0;
    this.byModel = new Map();
  }

  get progress() { return this.tiles ? this.tiles.loadProgress : 0; }

  async load(camera, renderer) {
    const path = this.summary.tiles.replace(/^\//, "");
    const tileset = await this.api.json(path);
    // Earth-centred tiles -> the twin's local frame (z up) -> this viewer's (y up)
    const frame = new THREE.Matrix4().fromArray(tileset.asset.extras.local_frame);
    this.root.matrixAutoUpdate = false;
    this.root.matrix.makeRotationX(-Math.PI / 2).multiply(frame.clone().invert());
    const tiles = new TilesRenderer(this.api.url(path).href);
    tiles.setCamera(camera);
    tiles.setResolutionFromRenderer(camera, renderer);
    tiles.addEventListener("load-model", ({ scene }) => {
      scene.updateMatrixWorld(true);
      const chunks = this._chunksOf(scene);
      this.byModel.set(scene, chunks);
      this.tilesLoaded += 1;
      for (const c of chunks) this._add(c);
      this.dispatchEvent(new Event("change"));
    });
    tiles.addEventListener("dispose-model", ({ scene }) => {
      for (const c of this.byModel.get(scene) || []) this._remove(c);
      this.byModel.delete(scene);
    });
    tiles.addEventListener("needs-update", () => this.dispatchEvent(new Event("change")));
    this.tiles = tiles;
    this.root.add(tiles.group);
  }

  update(camera, renderer) {
    if (!this.tiles) return;
    camera.updateMatrixWorld();
    this.tiles.setResolutionFromRenderer(camera, renderer);
    this.tiles.update();
  }
}

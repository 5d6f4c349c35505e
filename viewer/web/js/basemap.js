// An optional base map: tiles of a configured XYZ or WMTS (GoogleMapsCompatible,
// Web Mercator) source draped over the twin's extent. Off by default; offline the
// twin's own terrain and land use are the ground.
//
// The twin is in its own projected CRS, the tiles in Web Mercator: the API gives a
// grid over the extent with each point's longitude and latitude (pyproj), and the
// texture coordinates are interpolated over that grid, so the map lands where the
// projection puts it. URL templates take {z}/{x}/{y} or WMTS's {TileMatrix},
// {TileRow}, {TileCol}.
import * as THREE from "three";
import { fill, byId } from "./dom.js";

const TILE = 256;
const MAX_ACROSS = 8; // tiles across the extent at most
const REPLACED = ["terrain", "landuse"];

/** Web Mercator tile coordinates (fractional) of a longitude/latitude at zoom z. */
export function tileXY(lon, lat, z) {
  const n = 2 ** z, phi = THREE.MathUtils.degToRad(lat);
  return [(lon + 180) / 360 * n, (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2 * n];
}

export function tileUrl(template, z, x, y) {
  return template.replaceAll("{z}", z).replaceAll("{x}", x).replaceAll("{y}", y)
    .replaceAll("{TileMatrix}", z).replaceAll("{TileCol}", x).replaceAll("{TileRow}", y);
}

function loadImage(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null); // a missing tile leaves a hole, not an error
    img.src = url;
  });
}

export class Basemap {
  constructor(viewer, config) {
    this.viewer = viewer;
    this.config = config; // {url, attribution, max_zoom}
    this.mesh = null;
    this.requested = [];
  }

  get available() { return !!(this.config && this.config.url); }

  async enable(on) {
    const v = this.viewer;
    if (this.mesh) { v.stage.scene.remove(this.mesh); this.mesh.material.map.dispose(); this.mesh = null; }
    // the map takes the place of the twin's own ground: terrain and land use
    for (const name of REPLACED) {
      if (!v.layers.state[name]) continue;
      if (on) { this.saved = this.saved || {}; this.saved[name] = v.layers.state[name].visible; }
      const visible = on ? false : (this.saved?.[name] ?? true);
      v.layers.set(name, { visible });
      const box = document.querySelector(`#layers li[data-layer="${name}"] input[type=checkbox]`);
      if (box) box.checked = visible;
    }
    if (!on) this.saved = null;
    fill(byId("attribution"), on ? this.config.attribution || "" : "");
    if (!on) return null;
    const grid = await v.api.json("twin/viewer/map?n=9");
    const lons = grid.lon, lats = grid.lat;
    const dlon = Math.max(...lons) - Math.min(...lons);
    const z = Math.max(1, Math.min(this.config.max_zoom ?? 18, Math.floor(Math.log2(MAX_ACROSS * 360 / dlon))));
    const xy = lons.map((lon, i) => tileXY(lon, lats[i], z));
    const x0 = Math.floor(Math.min(...xy.map((p) => p[0]))), x1 = Math.floor(Math.max(...xy.map((p) => p[0])));
    const y0 = Math.floor(Math.min(...xy.map((p) => p[1]))), y1 = Math.floor(Math.max(...xy.map((p) => p[1])));
    const nx = x1 - x0 + 1, ny = y1 - y0 + 1;
    const canvas = document.createElement("canvas");
    canvas.width = nx * TILE;
    canvas.height = ny * TILE;
    const ctx = canvas.getContext("2d");
    this.requested = [];
    const jobs = [];
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        const url = tileUrl(this.config.url, z, x, y);
        this.requested.push({ z, x, y });
        jobs.push(loadImage(url).then((img) => img && ctx.drawImage(img, (x - x0) * TILE, (y - y0) * TILE, TILE, TILE)));
      }
    }
    await Promise.all(jobs);
    const texture = new THREE.CanvasTexture(canvas);
    texture.colorSpace = THREE.SRGBColorSpace;
    texture.anisotropy = 4;
    const n = grid.n;
    const pos = [], uv = [], index = [];
    const box = this._terrainBox();
    const ground = box ? box.min.y - 0.05 : 0;
    for (let i = 0; i < n * n; i++) {
      pos.push(grid.x[i], ground, grid.z[i]);
      uv.push((xy[i][0] - x0) / nx, 1 - (xy[i][1] - y0) / ny);
    }
    for (let r = 0; r + 1 < n; r++) {
      for (let c = 0; c + 1 < n; c++) {
        const a = r * n + c;
        index.push(a, a + 1, a + n, a + 1, a + n + 1, a + n);
      }
    }
    const geom = new THREE.BufferGeometry();
    geom.setAttribute("position", new THREE.Float32BufferAttribute(pos, 3));
    geom.setAttribute("uv", new THREE.Float32BufferAttribute(uv, 2));
    geom.setIndex(index);
    geom.computeVertexNormals();
    const mat = new THREE.MeshLambertMaterial({ map: texture, side: THREE.DoubleSide,
      polygonOffset: true, polygonOffsetFactor: 14, polygonOffsetUnits: 28 });
    this.mesh = new THREE.Mesh(geom, mat);
    this.mesh.receiveShadow = true;
    this.mesh.name = "basemap";
    v.stage.scene.add(this.mesh);
    v.stage.requestRender();
    return { zoom: z, tiles: this.requested.length };
  }

  _terrainBox() {
    const box = new THREE.Box3();
    for (const c of this.viewer.source.chunks) {
      if (c.layer === "terrain") box.union(new THREE.Box3().setFromObject(c.object));
    }
    return box.isEmpty() ? null : box;
  }
}

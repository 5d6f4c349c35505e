// A chunk: one drawable of a scene source that holds many features.
//
// Both sources deliver the same kinds: a merged mesh whose vertices carry their
// feature's row (the `_feature_id_0` attribute of EXT_mesh_features, as in the lean
// scene GLB and in the 3D Tiles content), an instanced mesh (instance k = row k), or
// centrelines drawn a few pixels wide. Each chunk has a feature table (`rows`: id,
// type, name, key attributes) and a style texture: one RGBA texel per row, read in
// the shaders by feature index, so that colouring, fading or hiding any set of
// features costs one texture upload and no extra draw call.
import * as THREE from "three";
import { LineSegments2 } from "three/addons/lines/LineSegments2.js";
import { LineSegmentsGeometry } from "three/addons/lines/LineSegmentsGeometry.js";
import { LineMaterial } from "three/addons/lines/LineMaterial.js";

const TEX_WIDTH = 1024;
const WHITE = new THREE.Color(1, 1, 1);

/** Material of a chunk: Lambert (cheap in software WebGL), flat-shaded (no normals
 * are shipped), with the style texture patched into the shaders. */
function styledMaterial(source, texture, instanced) {
  const m = new THREE.MeshLambertMaterial({
    color: source.color.clone(), side: THREE.DoubleSide, flatShading: true,
    transparent: source.transparent, opacity: source.opacity,
  });
  m.userData.baseOpacity = source.opacity;
  m.onBeforeCompile = (shader) => {
    shader.uniforms.featureStyle = { value: texture };
    const id = instanced ? "gl_InstanceID" : "int(_feature_id_0 + 0.5)";
    shader.vertexShader = shader.vertexShader
      .replace("#include <common>", `#include <common>
uniform highp sampler2D featureStyle;
${instanced ? "" : "attribute float _feature_id_0;"}
varying vec4 vFeatureStyle;`)
      // no normals are shipped: lighting takes flat normals from screen-space derivatives,
      // and the shadow lookup's normal offset a fixed up vector (a zero attribute would
      // normalise to NaN and lose every shadow)
      .replace("#include <beginnormal_vertex>", "vec3 objectNormal = vec3(0.0, 1.0, 0.0);")
      .replace("#include <begin_vertex>", `#include <begin_vertex>
{ int fi = ${id}; int w = textureSize(featureStyle, 0).x;
  vFeatureStyle = texelFetch(featureStyle, ivec2(fi % w, fi / w), 0); }`);
    shader.fragmentShader = shader.fragmentShader
      .replace("#include <common>", "#include <common>\nvarying vec4 vFeatureStyle;")
      .replace("#include <color_fragment>", `#include <color_fragment>
if (vFeatureStyle.a < 0.01) discard;
diffuseColor.rgb = vFeatureStyle.rgb;
diffuseColor.a *= vFeatureStyle.a;`);
  };
  m.customProgramCacheKey = () => (instanced ? "twin-style-i" : "twin-style-m");
  return m;
}

export class Chunk {
  /** `object`: the THREE.Mesh / InstancedMesh / LineSegments of a glTF node whose
   * extras give `layer` and `features`; `kind`: merged, instanced or lines. */
  constructor(object, layer, rows, kind, { lineWidth = 2, resolution } = {}) {
    this.layer = layer;
    this.rows = rows;
    this.kind = kind;
    this.index = new Map(rows.map((r, k) => [r.id, k]));
    const source = object.material;
    this.baseColour = source.color.clone();
    if (kind === "lines") {
      this.object = fatLines(object, source, lineWidth, resolution);
      this.segmentRow = this.object.userData.segmentRow;
    } else {
      const n = rows.length;
      const data = new Uint8Array(TEX_WIDTH * Math.ceil(n / TEX_WIDTH) * 4);
      this.texture = new THREE.DataTexture(data, TEX_WIDTH, Math.ceil(n / TEX_WIDTH));
      this.texture.colorSpace = THREE.SRGBColorSpace;
      this.texture.needsUpdate = true;
      object.material = styledMaterial(source, this.texture, kind === "instanced");
      this.object = object;
    }
    this.object.userData.chunk = this;
    this.object.matrixWorldNeedsUpdate = true;
    this.faded = false;
  }

  get material() { return this.object.material; }

  /** The row a raycast hit on this chunk landed on (or -1). */
  rowOfHit(hit) {
    if (this.kind === "instanced") return hit.instanceId ?? -1;
    if (this.kind === "lines") return hit.faceIndex !== undefined ? this.segmentRow[hit.faceIndex] : -1;
    const ids = this.object.geometry.getAttribute("_feature_id_0");
    return ids && hit.face ? Math.round(ids.getX(hit.face.a)) : -1;
  }

  /** Style every row: `fn(row, layer)` -> {colour: THREE.Color (sRGB), alpha 0..1}. */
  applyStyle(fn) {
    const tmp = new THREE.Color();
    let faded = false;
    if (this.kind === "lines") {
      const colours = new Float32Array(this.segmentRow.length * 6);
      this.rowAlpha = new Float32Array(this.rows.length).fill(1);
      for (let s = 0; s < this.segmentRow.length; s++) {
        const st = fn(this.rows[this.segmentRow[s]], this.layer);
        this.rowAlpha[this.segmentRow[s]] = st.alpha;
        tmp.copy(st.colour ?? this.baseColour);
        // wide lines have no per-segment alpha: a faded one pales towards white
        if (st.alpha < 1) tmp.lerp(WHITE, 1 - st.alpha);
        colours.set([tmp.r, tmp.g, tmp.b, tmp.r, tmp.g, tmp.b], s * 6);
      }
      this.object.geometry.setColors(colours);
      return;
    }
    const data = this.texture.image.data;
    for (let k = 0; k < this.rows.length; k++) {
      const st = fn(this.rows[k], this.layer);
      tmp.copy(st.colour ?? this.baseColour).convertLinearToSRGB();
      data[k * 4] = Math.round(tmp.r * 255);
      data[k * 4 + 1] = Math.round(tmp.g * 255);
      data[k * 4 + 2] = Math.round(tmp.b * 255);
      data[k * 4 + 3] = Math.round(Math.max(0, Math.min(1, st.alpha)) * 255);
      if (st.alpha < 1) faded = true;
    }
    this.texture.needsUpdate = true;
    this.faded = faded;
  }

  /** The alpha a row is drawn with (picking passes through faded features). */
  alphaOf(k) {
    if (this.kind === "lines") return this.rowAlpha ? this.rowAlpha[k] : 1;
    return this.texture.image.data[k * 4 + 3] / 255;
  }

  /** Bounds (viewer frame) of row k. */
  boundsOf(k) {
    const box = new THREE.Box3();
    const obj = this.object;
    obj.updateWorldMatrix(true, false);
    if (this.kind === "instanced") {
      const m = new THREE.Matrix4();
      obj.getMatrixAt(k, m);
      if (!obj.geometry.boundingBox) obj.geometry.computeBoundingBox();
      return box.copy(obj.geometry.boundingBox).applyMatrix4(m).applyMatrix4(obj.matrixWorld);
    }
    const v = new THREE.Vector3();
    if (this.kind === "lines") {
      const start = obj.geometry.getAttribute("instanceStart");
      const end = obj.geometry.getAttribute("instanceEnd");
      for (let s = 0; s < this.segmentRow.length; s++) {
        if (this.segmentRow[s] !== k) continue;
        box.expandByPoint(v.fromBufferAttribute(start, s));
        box.expandByPoint(v.fromBufferAttribute(end, s));
      }
      return box.applyMatrix4(obj.matrixWorld);
    }
    const ranges = this._ranges();
    const pos = obj.geometry.getAttribute("position");
    for (let i = ranges[k * 2]; i < ranges[k * 2 + 1]; i++) box.expandByPoint(v.fromBufferAttribute(pos, i));
    return box.applyMatrix4(obj.matrixWorld);
  }

  // the vertex range [start, end) of each row: a feature's vertices are contiguous
  _ranges() {
    if (this._r) return this._r;
    const ids = this.object.geometry.getAttribute("_feature_id_0");
    const r = new Int32Array(this.rows.length * 2).fill(-1);
    for (let i = 0; i < ids.count; i++) {
      const k = Math.round(ids.getX(i));
      if (r[k * 2] < 0) r[k * 2] = i;
      r[k * 2 + 1] = i + 1;
    }
    this._r = r;
    return r;
  }

  setClipping(planes) {
    this.material.clippingPlanes = planes.length ? planes : null;
    this.material.needsUpdate = true;
  }

  dispose() {
    if (this.texture) this.texture.dispose();
    if (this.kind === "lines") { this.object.geometry.dispose(); this.material.dispose(); }
  }
}

// a LINES primitive (pairs of vertices, each with its feature row) as screen-space
// wide lines, so that pipes read on a city-wide view
function fatLines(lines, source, width, resolution) {
  const pos = lines.geometry.getAttribute("position");
  const ids = lines.geometry.getAttribute("_feature_id_0");
  const n = pos.count / 2;
  const geom = new LineSegmentsGeometry().setPositions(pos.array);
  const colours = new Float32Array(n * 6);
  const c = source.color;
  for (let s = 0; s < n; s++) colours.set([c.r, c.g, c.b, c.r, c.g, c.b], s * 6);
  geom.setColors(colours);
  const mat = new LineMaterial({ linewidth: width, vertexColors: true, transparent: false });
  if (resolution) mat.resolution.copy(resolution);
  const obj = new LineSegments2(geom, mat);
  obj.name = lines.name;
  obj.position.copy(lines.position);
  obj.quaternion.copy(lines.quaternion);
  obj.scale.copy(lines.scale);
  const segmentRow = new Int32Array(n);
  for (let s = 0; s < n; s++) segmentRow[s] = Math.round(ids.getX(s * 2));
  obj.userData = { ...lines.userData, segmentRow };
  return obj;
}

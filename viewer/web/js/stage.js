// The stage: renderer, camera, orbit controls, sun, sky and the frame of the twin.
//
// Frame: metres from the twin's origin, x = east, y = up, z = -north (glTF axes, as
// the scene GLB and the tiles holder give them). The renderer draws on demand: a
// frame is drawn when something asks for it (camera moved, style changed, tiles
// arrived), so an idle presenter's laptop, or a loaded test machine, stays quiet.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { Sky } from "three/addons/objects/Sky.js";
import { getPosition } from "suncalc";

export class Stage {
  constructor(container) {
    const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(window.devicePixelRatio);
    renderer.localClippingEnabled = true;
    renderer.shadowMap.enabled = true;
    // one depth test per pixel: PCF's filtering costs half a frame in software WebGL
    renderer.shadowMap.type = THREE.BasicShadowMap;
    // shadows depend on the sun and the scene, not on the camera: the shadow map is
    // redrawn when they change (requestRender(true)), not on every orbit frame
    renderer.shadowMap.autoUpdate = false;
    container.appendChild(renderer.domElement);
    this.renderer = renderer;
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xdfe6ee);
    this.camera = new THREE.PerspectiveCamera(45, 1, 1, 30000);
    this.controls = new OrbitControls(this.camera, renderer.domElement);
    this.controls.maxPolarAngle = Math.PI; // free to look from below ground
    this.controls.addEventListener("change", () => this.requestRender());
    // the sky (a cube map lookup per background pixel, a third of a frame in software
    // WebGL on a city-wide view) gives way to its horizon colour while the camera moves
    this.controls.addEventListener("start", () => {
      if (this.skyColour) this.scene.background = this.skyColour;
    });
    this.controls.addEventListener("end", () => {
      if (this.skyColour) { this.scene.background = this.skyTarget.texture; this.requestRender(); }
    });
    this.hemi = new THREE.HemisphereLight(0xffffff, 0x8a7f70, 1.5);
    this.scene.add(this.hemi);
    this.sun = new THREE.DirectionalLight(0xfff4e0, 2.2);
    this.sun.castShadow = true;
    this.sun.shadow.mapSize.set(4096, 4096);
    this.sun.shadow.bias = -0.0004;
    this.scene.add(this.sun, this.sun.target);
    this.sky = new Sky();
    this.sky.material.uniforms.turbidity.value = 4;
    this.sky.material.uniforms.rayleigh.value = 1.2;
    this.sky.scale.setScalar(10);
    // the sky model gives radiance far above 1; render targets skip tone mapping, so an
    // exposure curve here keeps its blue gradient instead of a white clamp
    this.sky.material.onBeforeCompile = (shader) => {
      shader.fragmentShader = shader.fragmentShader.replace("#include <tonemapping_fragment>",
        "gl_FragColor.rgb = 1.0 - exp(-gl_FragColor.rgb * 0.8);\n#include <tonemapping_fragment>");
    };
    this.skyScene = new THREE.Scene();
    this.skyScene.add(this.sky);
    this.skyTarget = new THREE.WebGLCubeRenderTarget(256);
    this.skyCamera = new THREE.CubeCamera(1, 100, this.skyTarget);
    this.sunInfo = null;
    this.shadows = true; // off for streamed cities (see main.js)
    this.dirty = true;
    this.frameHooks = [];
    this.beforeFrame = [];
    this.frames = 0;
    this.resize();
    window.addEventListener("resize", () => this.resize());
  }

  resize() {
    const w = window.innerWidth, h = window.innerHeight;
    this.renderer.setSize(w, h);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.resolution = new THREE.Vector2(w, h);
    this.requestRender();
  }

  /** Draw a frame soon; `shadows`: the scene or the sun changed, redraw the shadow map. */
  requestRender(shadows = false) {
    this.dirty = true;
    if (shadows) this.renderer.shadowMap.needsUpdate = true;
  }

  /** The render loop; `before()` runs each animation frame (tiles streaming) and
   * returns true while it needs frames. */
  start(before = () => false) {
    const loop = () => {
      const busy = before();
      if (this.dirty || busy) {
        this.dirty = false;
        this.controls.update();
        for (const fn of this.beforeFrame) fn();
        // the near plane follows the viewing distance: depth precision for coplanar
        // ground layers and for pipes a metre under them, from close-ups to the city
        const d = this.camera.position.distanceTo(this.controls.target);
        const near = Math.max(0.5, Math.min(50, d / 150));
        if (Math.abs(near - this.camera.near) > 1e-3) {
          this.camera.near = near;
          this.camera.updateProjectionMatrix();
        }
        this.renderer.render(this.scene, this.camera);
        this.frames += 1;
        for (const fn of this.frameHooks) fn();
      }
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  /** Fit shadows and the camera's far plane to the twin's bounds (viewer frame). */
  setBounds(box) {
    this.bounds = box.clone();
    const size = box.getSize(new THREE.Vector3());
    const r = Math.max(size.x, size.z, 50) * 0.75;
    const cam = this.sun.shadow.camera;
    cam.left = -r; cam.right = r; cam.top = r; cam.bottom = -r;
    cam.near = 1; cam.far = r * 6;
    cam.updateProjectionMatrix();
    this.camera.far = Math.max(30000, r * 20);
    this.camera.updateProjectionMatrix();
  }

  /** Sun (and sky) at a date and time for the twin's longitude/latitude (suncalc:
   * azimuth from north clockwise, apparent altitude). Grid north of the twin's map
   * projection is taken as true north (the convergence is a fraction of a degree). */
  setSun(date, lonlat) {
    const p = getPosition(date, lonlat.lat, lonlat.lon);
    const az = THREE.MathUtils.degToRad(p.azimuth), alt = THREE.MathUtils.degToRad(p.altitude);
    // towards the sun: east, up, north -> viewer x, y, -z
    const dir = new THREE.Vector3(Math.sin(az) * Math.cos(alt), Math.sin(alt),
      -Math.cos(az) * Math.cos(alt));
    const c = this.bounds ? this.bounds.getCenter(new THREE.Vector3()) : new THREE.Vector3();
    const r = this.sun.shadow.camera.right || 1000;
    this.sun.target.position.copy(c);
    this.sun.position.copy(c).addScaledVector(dir, r * 3);
    const day = Math.max(0, Math.min(1, (p.altitude + 4) / 14)); // dusk to full day
    this.sun.intensity = 2.4 * day;
    this.sun.castShadow = this.shadows && p.altitude > 0;
    this.hemi.intensity = 0.35 + 1.15 * day;
    this.sky.material.uniforms.sunPosition.value.copy(dir);
    this.skyCamera.update(this.renderer, this.skyScene);
    this.scene.background = this.skyTarget.texture;
    // the sky some 15 degrees above the horizon towards the sun (face +x or -x; rows
    // above and below the middle, whichever is sky rather than the white below it)
    const face = dir.x >= 0 ? 0 : 1, a = new Uint8Array(4), b = new Uint8Array(4);
    this.renderer.readRenderTargetPixels(this.skyTarget, 128, 94, 1, 1, a, face);
    this.renderer.readRenderTargetPixels(this.skyTarget, 128, 162, 1, 1, b, face);
    const px = a[0] + a[1] + a[2] < b[0] + b[1] + b[2] ? a : b;
    this.skyColour = new THREE.Color().setRGB(px[0] / 255, px[1] / 255, px[2] / 255,
      THREE.LinearSRGBColorSpace);
    this.sunInfo = { date: date.toISOString(), azimuth: p.azimuth, altitude: p.altitude, direction: dir.toArray() };
    this.requestRender(true);
    return this.sunInfo;
  }

  /** Page pixels of a point of the viewer frame. */
  toScreen(v) {
    this.camera.updateMatrixWorld();
    const p = v.clone().project(this.camera);
    const rect = this.renderer.domElement.getBoundingClientRect();
    return { x: rect.left + (p.x + 1) / 2 * rect.width, y: rect.top + (1 - p.y) / 2 * rect.height };
  }

  /** A raycaster through page pixels (clientX, clientY). */
  rayAt(x, y) {
    const rect = this.renderer.domElement.getBoundingClientRect();
    const ray = new THREE.Raycaster();
    ray.setFromCamera(new THREE.Vector2(((x - rect.left) / rect.width) * 2 - 1,
      -((y - rect.top) / rect.height) * 2 + 1), this.camera);
    ray.params.Line2 = { threshold: 4 };
    ray.camera = this.camera;
    return ray;
  }

  /** Look at a box (viewer frame) from the south-east, above. */
  lookAt(box, factor = 1) {
    const c = box.getCenter(new THREE.Vector3());
    const r = Math.max(box.getSize(new THREE.Vector3()).length(), 20) * factor;
    this.controls.target.copy(c);
    this.camera.position.set(c.x + r, c.y + r, c.z + r);
    this.controls.update();
    this.camera.updateMatrixWorld();
    this.requestRender();
  }
}

/** Twin CRS (E, N, H) -> viewer frame, for an origin [ox, oy, oz]. */
export function twinToView(p, o) {
  return new THREE.Vector3(p[0] - o[0], p[2] - o[2], -(p[1] - o[1]));
}

/** Viewer frame -> offsets from the origin in the twin CRS {e, n, h}. */
export function viewToTwin(v) { return { e: v.x, n: -v.z, h: v.y }; }

/** A twin bbox [xmin, ymin, zmin, xmax, ymax, zmax] as a Box3 of the viewer frame. */
export function boxOfBbox(b, o) {
  return new THREE.Box3(new THREE.Vector3(b[0] - o[0], b[2] - o[2], -(b[4] - o[1])),
    new THREE.Vector3(b[3] - o[0], b[5] - o[2], -(b[1] - o[1])));
}

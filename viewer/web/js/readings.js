// Readings mode: the features that carry sensors coloured by the value of an
// observed property (pressure, flow, ...) at the time of a slider, with a legend in
// the property's unit, play/pause, and the value on the feature card.
//
// Values come from /twin/viewer/readings (per feature the latest reading at or before
// the slider's time). The colour scale spans the property's whole value range (the
// API's `value_range`), so that colours compare across times; the legend also gives
// the range of the values at the slider's time. Colours apply by feature id through
// Analysis.styleOf, so both scene sources (one GLB, 3D Tiles) answer the same.
import * as THREE from "three";
import { h, fill, swatch, byId } from "./dom.js";
import { formatValue } from "./card.js";

// a diverging ramp for readings (low -> high; ColorBrewer RdYlBu reversed)
export const READING_RAMP = ["#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c"];
const STEP_MS = 15 * 60 * 1000; // the slider's step: a quarter of an hour
const PLAY_STEP = 4; // quarters per frame of play (an hour)
const PLAY_DELAY_MS = 400;

/** The colour of `t` in 0..1 along the ramp (linear between its stops). */
export function rampColour(t) {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (READING_RAMP.length - 1);
  const k = Math.min(READING_RAMP.length - 2, Math.floor(x));
  return new THREE.Color(READING_RAMP[k]).lerp(new THREE.Color(READING_RAMP[k + 1]), x - k);
}

/** A time as the viewer's local clock reads it: 2025-04-01 08:00. */
export function localTime(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export class Readings {
  constructor(viewer) {
    this.viewer = viewer;
    this.properties = [];
    this.active = null; // {property, unit, range: [lo, hi], start, end, at, values: Map, colourOf: Map}
    this.seq = 0;
    this.playing = false;
  }

  /** The properties measured on features (fills the choice; hidden when none). */
  async load() {
    const res = await this.viewer.api.json("twin/viewer/readings");
    this.properties = res.properties;
    const select = byId("readings");
    for (const p of res.properties) {
      const label = `${p.name}${p.unit ? ` (${p.unit})` : ""} · ${p.features}`;
      select.appendChild(h("option", { value: p.name, textContent: label }));
    }
    byId("readings-row").hidden = !res.properties.length;
    return res.properties;
  }

  bind() {
    byId("readings").addEventListener("change", (ev) => {
      this.show(ev.target.value).catch(this.viewer.showError);
    });
    byId("readings-time").addEventListener("input", (ev) => {
      this.setTime(this.active.start + Number(ev.target.value) * STEP_MS).catch(this.viewer.showError);
    });
    byId("readings-play").addEventListener("click", () => (this.playing ? this.pause() : this.play()));
  }

  /** Colour by `property` (its latest readings first); "" or null ends the mode. */
  async show(property) {
    this.pause();
    byId("readings").value = property || "";
    if (!property) {
      this.active = null;
      byId("readings-time-row").hidden = true;
      this._apply();
      return null;
    }
    const res = await this.viewer.api.json(`twin/viewer/readings?property=${encodeURIComponent(property)}`);
    const start = Date.parse(res.time_range[0]), end = Date.parse(res.time_range[1]);
    this.active = { property, unit: res.unit || "", range: res.value_range, start, end };
    const slider = byId("readings-time");
    slider.min = 0;
    slider.max = Math.max(0, Math.ceil((end - start) / STEP_MS));
    slider.value = slider.max;
    byId("readings-time-row").hidden = false;
    this._take(res);
    return this.state();
  }

  /** Move the slider to `at` (ms or ISO text) and colour by the readings then. */
  async setTime(at) {
    if (!this.active) throw new Error("choose a property to read first");
    const ms = typeof at === "number" ? at : Date.parse(at);
    const slider = byId("readings-time");
    slider.value = Math.round((ms - this.active.start) / STEP_MS);
    const seq = ++this.seq;
    const res = await this.viewer.api.json(`twin/viewer/readings?property=${encodeURIComponent(this.active.property)}&at=${encodeURIComponent(new Date(ms).toISOString())}`);
    if (seq !== this.seq || !this.active) return this.state(); // a later move won
    this._take(res);
    return this.state();
  }

  _take(res) {
    const a = this.active;
    a.at = Date.parse(res.at);
    a.values = new Map(Object.entries(res.features));
    const [lo, hi] = a.range || [0, 1];
    a.colourOf = new Map();
    for (const [id, r] of a.values) {
      if (typeof r.value === "number") a.colourOf.set(id, rampColour(hi > lo ? (r.value - lo) / (hi - lo) : 0.5));
    }
    fill(byId("readings-label"), localTime(a.at));
    this._apply();
  }

  _apply() {
    const v = this.viewer;
    v.analysis.readings = this.active;
    v.analysis.restyle();
    v.analysis.legend();
    if (v.state.pickedDetail && !byId("info").hidden) v.card.show(v.state.pickedDetail);
  }

  play() {
    if (!this.active || this.playing) return;
    this.playing = true;
    fill(byId("readings-play"), "❚❚");
    const slider = byId("readings-time");
    if (Number(slider.value) >= Number(slider.max)) slider.value = 0;
    const tick = async () => {
      if (!this.playing || !this.active) return;
      const next = Math.min(Number(slider.max), Number(slider.value) + PLAY_STEP);
      await this.setTime(this.active.start + next * STEP_MS);
      if (next >= Number(slider.max)) { this.pause(); return; }
      this.timer = setTimeout(() => tick().catch(this.viewer.showError), PLAY_DELAY_MS);
    };
    tick().catch(this.viewer.showError);
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    fill(byId("readings-play"), "▶");
  }

  /** The legend's part: the scale in the unit, and the range at the slider's time. */
  legendParts() {
    const a = this.active;
    if (!a) return [];
    const parts = [h("b", {}, `${a.property}${a.unit ? ` (${a.unit})` : ""} at ${localTime(a.at)}`)];
    if (a.range) {
      const [lo, hi] = a.range;
      const n = READING_RAMP.length;
      READING_RAMP.forEach((c, k) => {
        const x = lo + ((hi - lo) * k) / (n - 1);
        parts.push(h("div", { className: "reading-class" }, swatch(c), formatValue(round(x), a.unit)));
      });
    }
    const now = [...a.values.values()].map((r) => r.value).filter((x) => typeof x === "number");
    parts.push(h("div", { className: "reading-now" }, now.length
      ? `now: ${formatValue(round(Math.min(...now)), a.unit)} – ${formatValue(round(Math.max(...now)), a.unit)} on ${now.length} features`
      : "no readings at this time"));
    return parts;
  }

  /** The card's row for a feature: its reading at the slider's time. */
  cardRows(detail, card) {
    const a = this.active;
    const r = a && a.values.get(detail.id);
    if (!r) return [];
    card.labels.reading ??= { label: "reading", label_zh: "读数", unit: "" };
    card.labels.reading_time ??= { label: "reading time", label_zh: "读数时间", unit: "" };
    return [card.row("reading", r.value, r.unit), card.row("reading_time", localTime(Date.parse(r.time.split("/").pop())), "")];
  }

  /** What the mode shows, for tests and scripts. */
  state() {
    const a = this.active;
    if (!a) return null;
    const colours = {};
    for (const [id, c] of a.colourOf) colours[id] = `#${c.getHexString()}`;
    const values = {};
    for (const [id, r] of a.values) values[id] = { value: r.value, unit: r.unit, time: r.time };
    return { property: a.property, unit: a.unit, at: new Date(a.at).toISOString(), range: a.range,
      values, colours, legend: byId("legend").textContent };
  }
}

function round(v) { return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100; }

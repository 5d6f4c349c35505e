// The feature card: a picked feature's attributes in readable form, with the
// catalogue's labels (English and Chinese) and units. All of it is text.
import { h, fill, byId } from "./dom.js";

const YES = "yes 是", NO = "no 否";

/** A value as a presenter reads it: numbers rounded, units added, flags as yes/no. */
export function formatValue(value, unit = "") {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? YES : NO;
  if (typeof value === "number") {
    if (unit === "year") return String(value);
    const text = Number.isInteger(value) ? value.toLocaleString("en")
      : value.toLocaleString("en", { maximumFractionDigits: Math.abs(value) >= 100 ? 1 : 2 });
    return unit ? `${text} ${unit}` : text;
  }
  if (Array.isArray(value)) return value.map((v) => formatValue(v)).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export class Card {
  constructor(labels, layerTitles) {
    this.labels = labels; // name -> {label, label_zh, unit}
    this.layerTitles = layerTitles; // name -> "Buildings 建筑"
    byId("close").addEventListener("click", () => { byId("info").hidden = true; });
  }

  label(name) {
    const l = this.labels[name];
    if (!l) return [name, ""];
    return [l.label, l.label_zh];
  }

  row(name, value, unit) {
    const [en, zh] = this.label(name);
    return h("tr", { dataset: { key: name } },
      h("th", {}, en, zh ? h("span", { className: "zh" }, ` ${zh}`) : null),
      h("td", {}, formatValue(value, unit ?? this.labels[name]?.unit ?? "")));
  }

  show(detail) {
    byId("info").hidden = false;
    fill(byId("info-title"), detail.name || detail.type || detail.id);
    fill(byId("info-sub"), `${detail.type} · ${this.layerTitles[detail.layer] || detail.layer}`);
    const rows = [this.row("id", detail.id, "")];
    if (detail.parent) rows.push(this.row("parent", detail.parent, ""));
    const attrs = Object.entries(detail.attributes || {});
    // the catalogue's attributes first (in its order), then the file's own
    const known = Object.keys(this.labels);
    attrs.sort(([a], [b]) => (known.indexOf(a) < 0) - (known.indexOf(b) < 0) ||
      known.indexOf(a) - known.indexOf(b) || a.localeCompare(b));
    for (const [k, v] of attrs) rows.push(this.row(k, v));
    if (detail.provenance) rows.push(this.row("source", detail.provenance.source_file, ""));
    if (this.extraRows) rows.push(...this.extraRows(detail, this));
    fill(byId("info-table"), rows);
  }
}

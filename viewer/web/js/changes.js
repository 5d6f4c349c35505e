// What changed since an import: the twin's timeline (/twin/batches) as a choice of
// moments, and the `changes:BATCH` highlight (added green, changed amber; removed
// features are not in the scene now and are counted in the legend's note).
//
// The choice lists every import but the newest (nothing changed since that one),
// newest first. Its default is the newest plain import (one that was not an update),
// i.e. the state before the latest deliveries were applied; with updates only, the
// oldest import.
import { h, byId } from "./dom.js";

const LISTED = 200; // the newest imports offered (the API pages the rest)

/** The short label of a batch: its number, file, time, and what an update changed. */
export function batchLabel(b) {
  const when = (b.finished || b.started || "").replace("T", " ").slice(0, 16);
  const u = b.update;
  const what = u ? ` (+${u.added} ~${u.changed} −${u.retired})` : "";
  return `#${b.id} ${b.source} · ${when}${what}`;
}

/** The batch a change view starts from by default (see the module's comment). */
export function defaultSince(newestFirst) {
  const candidates = newestFirst.slice(1);
  return (candidates.find((b) => !b.update) || candidates[candidates.length - 1])?.id;
}

export class Changes {
  constructor(viewer) {
    this.viewer = viewer;
    this.batches = []; // newest first
  }

  /** Fill the choice of moments; false when the twin has a single import. */
  async load() {
    const res = await this.viewer.api.json(`twin/batches?order=newest&limit=${LISTED}`);
    this.batches = res.batches;
    const select = byId("changes-since");
    select.replaceChildren(...this.batches.slice(1).map((b) =>
      h("option", { value: String(b.id), textContent: batchLabel(b) })));
    const since = defaultSince(this.batches);
    if (since !== undefined) select.value = String(since);
    return this.batches.length > 1;
  }

  /** The highlight to ask the API for, from the choice. */
  async spec() {
    if (!this.batches.length) await this.load();
    const since = byId("changes-since").value;
    if (!since) throw new Error("the twin has a single import: there is nothing to compare with");
    return `changes:${since}`;
  }

  /** Show the choice while the change view is on. */
  showRow(on) { byId("changes-row").hidden = !on; }
}

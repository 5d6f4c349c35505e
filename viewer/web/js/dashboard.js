// The city health check (城市体检) dashboard: every indicator of /indicators with
// its value, target and status; clicking one shows its features on the map
// (/twin/viewer/indicators/{key}: the heating pipes due for renewal, the residential
// buildings above 18 storeys, the clearance clashes, ...).
import { h, fill, byId } from "./dom.js";
import { formatValue } from "./card.js";

function status(ind) {
  if (ind.value === null) return ["nodata", "no data 无数据"];
  if (ind.meets === true) return ["ok", "meets target 达标"];
  if (ind.meets === false) return ["bad", "misses target 未达标"];
  return ["info", "no target 无目标"];
}

export class Dashboard {
  constructor(viewer) {
    this.viewer = viewer;
    this.active = null;
    this.indicators = [];
  }

  async load(year) {
    this.year = year;
    const res = await this.viewer.api.json(`indicators?year=${year}`);
    this.indicators = res.indicators;
    this.render();
    return res;
  }

  render() {
    const list = byId("indicators");
    fill(list, this.indicators.map((ind) => {
      const [cls, text] = status(ind);
      const value = ind.value === null ? "—" : formatValue(ind.value, ind.unit);
      const li = h("li", { className: `indicator ${cls}`, dataset: { key: ind.key }, tabIndex: 0,
        title: [ind.formula, ind.coverage, ind.note].filter(Boolean).join("\n"),
        on: { click: () => this.toggle(ind.key).catch((e) => this.viewer.showError(e)) } },
      h("div", { className: "name" }, ind.title_zh, h("span", { className: "en" }, ind.title)),
      h("div", { className: "value" }, value),
      h("div", { className: "status" }, text, ind.target ? ` · ${ind.target}` : ""));
      if (this.active === ind.key) li.classList.add("active");
      return li;
    }));
  }

  /** Show an indicator's features (a second click on the same one clears). */
  async toggle(key) {
    if (this.active === key) return this.show(null);
    return this.show(key);
  }

  async show(key) {
    this.active = key;
    let res = null;
    if (key) {
      res = await this.viewer.api.json(
        `twin/viewer/indicators/${encodeURIComponent(key)}?year=${this.viewer.state.year}&geometry=true`);
      byId("highlight").value = "";
      this.viewer.changes?.showRow(false);
    }
    this.viewer.analysis.show(res);
    this.viewer.state.highlight = res;
    this.viewer.state.indicator = key;
    this.render();
    return res;
  }
}

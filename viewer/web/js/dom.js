// Building the page from data without ever parsing data as HTML.
//
// Everything the twin holds came from imported files (attribute names and values,
// layer titles, analysis labels): it reaches the page as text nodes only. This module
// is the one place that creates elements; no module of the viewer uses innerHTML.

/** An element: h("td", {className: "k", title: t}, "text", childNode, ...).
 * Strings become text nodes; props are set as DOM properties, except `dataset`,
 * `style` (an object of CSS properties) and `on` (event name -> handler). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el[k] = v;
  }
  append(el, children);
  return el;
}

/** Append strings (as text) and nodes, flattening arrays, skipping null. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's content with the given children (text or nodes). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const byId = (id) => document.getElementById(id);

/** A colour swatch; the colour must be a #rrggbb string (anything else is refused,
 * so that a colour from data can never carry CSS or markup). */
export function swatch(colour) {
  const ok = /^#[0-9a-fA-F]{6}$/.test(colour);
  return h("span", { className: "swatch", style: { background: ok ? colour : "#999999" } });
}

// The twin API, seen from the viewer served at /viewer/.

export class Api {
  constructor(base = new URL("..", window.location.href)) { this.base = base; }

  url(path) { return new URL(path.replace(/^\//, ""), this.base); }

  async json(path) {
    const r = await fetch(this.url(path));
    if (!r.ok) {
      let detail = "";
      try { detail = (await r.json()).detail || ""; } catch { /* not a problem document */ }
      throw new Error(`${path}: ${r.status} ${detail}`);
    }
    return r.json();
  }
}

"""What an import tells its user: notes each converter writes about its own report.

A converter collects facts in ``ConversionContext.report`` (a JSON-able dict
kept with the import batch) and says what they mean in :class:`Note` lines
through its ``summarise`` function (:class:`~converters.base.ConverterSpec`).
The CLI, the API's import jobs and ``twin batches`` show those lines as they
are: none of them needs to know any converter's report keys.

>>> [n.text for n in common_notes({"crs_from": "option", "source_crs": "EPSG:4546"})]
['CRS EPSG:4546 (from option)']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["info", "ok", "warn"]

#: How many examples a note lists before it says how many more there are.
EXAMPLES = 10


@dataclass(frozen=True)
class Note:
    """One line of an import summary: plain text (never markup) and how it
    should stand out (``warn``: something the user should look at; ``ok``: a
    success worth seeing; ``info``: the rest). ``depth`` indents details."""

    text: str
    level: Level = "info"
    depth: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "level": self.level, "depth": self.depth}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Note:
        return cls(str(d.get("text", "")), d.get("level", "info"),  # type: ignore[arg-type]
                   int(d.get("depth", 1)))


def examples(items: list[Any], total: int | None = None, limit: int = EXAMPLES) -> tuple[
        list[Any], Note | None]:
    """The first ``limit`` of ``items`` and, when there are more (``total``
    counts them when ``items`` is itself cut), a note saying how many."""
    n = len(items) if total is None else total
    shown = items[:limit]
    more = n - len(shown)
    return shown, (Note(f"... {more} more (twin batches --json lists them)", depth=2)
                   if more > 0 else None)


def common_notes(src: Mapping[str, Any]) -> list[Note]:
    """Notes every converter's report may give: the CRS it read, where ground
    heights came from, how the model was georeferenced."""
    out: list[Note] = []
    if src.get("source_crs"):
        out.append(Note(f"CRS {src['source_crs']} (from {src.get('crs_from', '?')})"))
    g = src.get("ground_from")
    if g:
        where = (f"DEM {g['dem']} ({g['crs']}, {g['resolution'][0]:g} m cells)" if "dem" in g
                 else g.get("terrain", ""))
        out.append(Note(f"ground heights for {src.get('ground_used', 0)} items from {where}"))
    geo = src.get("georeferencing")
    if geo:
        out.append(Note(f"georeferencing: {geo['method']} -> {geo['crs']}"))
        out.extend(Note(str(n), depth=2) for n in geo.get("notes", []))
    return out


def batch_notes(report: Mapping[str, Any]) -> list[Note]:
    """Notes about what the store did with the features (by type, replaced)."""
    out: list[Note] = []
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(report.get("by_type", {}).items()))
    if by_type:
        out.append(Note(f"by type: {by_type}"))
    out += update_notes(report.get("update"))
    if report.get("replaced"):
        froms = ", ".join(f"{n} of batch {b}" for b, n in report.get("replaced_from", {}).items())
        out.append(Note(f"replaced {report['replaced']} existing features"
                        + (f" ({froms})" if froms else "")))
    return out


def update_notes(upd: Mapping[str, Any] | None) -> list[Note]:
    """What an update by identity did: counts, what changed, how far
    geometry moved, what was retired.

    >>> for n in update_notes({"added": 1, "changed": 2, "unchanged": 5,
    ...     "retired": 1, "what_changed": {"height": 1, "geometry": 1},
    ...     "moved": {"count": 1, "max_m": 2.0, "mean_m": 2.0}, "retired_ids": ["b:3"]}):
    ...     print(n.text)
    update: 1 added, 2 changed, 5 unchanged, 1 retired
    changed: geometry 1, height 1
    geometry moved: 1 features, up to 2.00 m (mean 2.00 m)
    retired: b:3
    """
    if not upd:
        return []
    out = [Note(f"update: {upd.get('added', 0)} added, {upd.get('changed', 0)} changed, "
                f"{upd.get('unchanged', 0)} unchanged, {upd.get('retired', 0)} retired",
                "ok" if upd.get("added") or upd.get("changed") or upd.get("retired") else "info")]
    what = upd.get("what_changed") or {}
    if what:
        out.append(Note("changed: " + ", ".join(f"{k} {v}" for k, v in sorted(what.items())),
                        depth=2))
    moved = upd.get("moved") or {}
    if moved.get("count"):
        out.append(Note(f"geometry moved: {moved['count']} features, up to "
                        f"{moved['max_m']:.2f} m (mean {moved['mean_m']:.2f} m)", depth=2))
    retired = list(upd.get("retired_ids") or [])
    if retired:
        shown, more = examples(retired, int(upd.get("retired", len(retired))))
        out.append(Note("retired: " + ", ".join(shown), "warn", depth=2))
        if more:
            out.append(more)
    return out


def skipped_notes(report: Mapping[str, Any]) -> list[Note]:
    """Which share of the elements was skipped, and the first few skipped
    with their reasons.

    >>> [n.text for n in skipped_notes({"features": 120, "skipped_count": 0})]
    ['skipped none of 120 elements']
    """
    n = int(report.get("skipped_count", 0))
    total = n + int(report.get("received", report.get("features", 0)))
    if not n:
        return [Note(f"skipped none of {total} elements")] if total else []
    shown, more = examples(list(report.get("skipped", [])), n)
    out = [Note(f"skipped {n} of {total} elements ({100 * n / total:.1f}%):", "warn")]
    out += [Note(f"{s['source_id']}: {s['reason']}", depth=2) for s in shown]
    return out + ([more] if more else [])


def no_notes(report: Mapping[str, Any]) -> list[Note]:
    """The ``summarise`` of a converter with nothing of its own to say."""
    return []


def as_dicts(notes: Iterable[Note]) -> list[dict[str, Any]]:
    return [n.to_dict() for n in notes]

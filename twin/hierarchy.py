"""The feature hierarchy: site > building > storey > element, system > segment.

Every feature may name a ``parent``; these functions walk that tree through
any :class:`~twin.store.base.TwinStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from .errors import HierarchyError
from .model import Feature
from .query import Query
from .store.base import TwinStore

#: Deepest hierarchy walked before a cycle is suspected.
MAX_DEPTH = 64


def ancestors(store: TwinStore, feature_id: str) -> list[Feature]:
    """The parent, grandparent, ... of a feature (nearest first).

    A parent id that names no feature ends the chain (it may come from a file
    not imported yet); a cycle raises :class:`~twin.errors.HierarchyError`.
    """
    out: list[Feature] = []
    seen = {feature_id}
    parent = store.get(feature_id, meshes=False).parent
    while parent is not None:
        if parent in seen or len(out) >= MAX_DEPTH:
            raise HierarchyError(
                f"feature {feature_id!r}: the parent chain loops at {parent!r}", feature_id)
        seen.add(parent)
        found = list(store.query(Query(ids=(parent,))))
        if not found:
            break
        out.append(found[0])
        parent = found[0].parent
    return out


def descendants(store: TwinStore, feature_id: str, *, max_depth: int | None = None
                ) -> Iterator[tuple[Feature, int]]:
    """Children, grandchildren, ... of a feature, breadth first, with their depth
    (1 for children). Streams level by level."""
    level = [feature_id]
    depth = 0
    seen = {feature_id}
    while level and (max_depth is None or depth < max_depth) and depth < MAX_DEPTH:
        depth += 1
        nxt = []
        for pid in level:
            for child in store.query(Query(parent=pid)):
                if child.id in seen:
                    continue
                seen.add(child.id)
                nxt.append(child.id)
                yield child, depth
        level = nxt


class ParentLoopGuard:
    """Keeps parent loops out of an import, as its features stream past.

    A feature whose parent chain comes back to itself (its own parent, or
    ``a -> b -> a``) would make the hierarchy endless; the feature that
    closes the loop is skipped with ``skip(id, reason)`` naming the loop,
    and the others pass on in their order. The chain is followed through
    this import's features first and then through ``parent_of`` (the
    twin's features: an id to its parent, ``None`` when unknown or without
    parent), at most :data:`MAX_DEPTH` steps."""

    def __init__(self, parent_of: Callable[[str], str | None]) -> None:
        self._parents: dict[str, str | None] = {}
        self._outside = parent_of
        self._outside_seen: dict[str, str | None] = {}

    def _parent(self, fid: str) -> str | None:
        if fid in self._parents:
            return self._parents[fid]
        if fid not in self._outside_seen:
            self._outside_seen[fid] = self._outside(fid)
        return self._outside_seen[fid]

    def loop(self, fid: str, parent: str | None) -> list[str] | None:
        """The loop that ``fid`` with ``parent`` would close, as the chain of
        ids from ``fid`` back to it, or ``None``."""
        chain = [fid]
        node = parent
        while node is not None and len(chain) <= MAX_DEPTH:
            chain.append(node)
            if node == fid:
                return chain
            node = self._parent(node)
        return chain if len(chain) > MAX_DEPTH else None

    def screen(self, features: Iterable[Feature],
               skip: Callable[[str, str], None]) -> Iterator[Feature]:
        for f in features:
            found = self.loop(f.id, f.parent) if f.parent is not None else None
            if found is not None:
                if found[-1] == f.id:
                    reason = "the parent chain loops: " + " -> ".join(found)
                else:
                    reason = f"the parent chain is deeper than {MAX_DEPTH} levels"
                skip(f.source_id or f.id, reason)
                continue
            self._parents[f.id] = f.parent
            yield f

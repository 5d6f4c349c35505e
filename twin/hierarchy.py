"""The feature hierarchy: site > building > storey > element, system > segment.

Every feature may name a ``parent``; these functions walk that tree through
any :class:`~twin.store.base.TwinStore`.
"""

from __future__ import annotations

from collections.abc import Iterator

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

"""Building a twin's SQLite R*Tree in one pass, for an import into an empty twin.

SQLite's R*Tree module inserts one entry at a time (choose a leaf, split
full nodes, re-insert): 10-15 us an entry once the tree outgrows the cache,
the largest cost of loading a million features. It has no bulk build, but
its tables are a documented file format (``ext/rtree/rtree.c``, "Database
Format of R-Tree Tables"), which SQLite keeps readable as every file
format: so we write them directly, as GDAL's GeoPackage driver does for its
own spatial indexes:

* ``<name>_node(nodeno, data)``: one blob per node, ``node_size`` bytes
  (fixed when the table was created: the length of the root's blob). The
  blob starts with the tree depth (2 bytes, big-endian, root only; 0
  elsewhere) and the number of cells (2 bytes), then the cells: an 8-byte
  big-endian id (a feature key in a leaf, a child node number above) and
  the box as big-endian float32 ``min, max`` per dimension. Node 1 is the
  root.
* ``<name>_rowid(rowid, nodeno)``: the leaf of every entry.
* ``<name>_parent(nodeno, parentnode)``: the parent of every other node.

Entries are sorted along a Hilbert curve through their plan centres and
packed into full nodes, level by level (a packed Hilbert R-tree: nodes
cover compact areas, so searches visit few). Boxes are rounded to float32
outwards exactly as SQLite rounds them (``rtreeValueDown``/``Up``), so the
index holds the very values row-by-row inserts would; ``rtreecheck()``
accepts the result, and later inserts and deletes work on it as on any tree.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import cache

import numpy as np

_LEAF_BITS = 24  # leaf numbers packed with entry ids (16 million leaves)
_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (6,))])
_TOWARDS = 1.0 - 1.0 / 8388608.0  # SQLite's RNDTOWARDS
_AWAY = 1.0 + 1.0 / 8388608.0  # SQLite's RNDAWAY


def round_down(d: np.ndarray) -> np.ndarray:
    """float64 -> float32, never above ``d`` (SQLite's ``rtreeValueDown``)."""
    d = np.asarray(d, dtype=np.float64)
    f = d.astype(np.float32)
    over = f.astype(np.float64) > d
    f[over] = (d[over] * np.where(d[over] < 0, _AWAY, _TOWARDS)).astype(np.float32)
    return f


def round_up(d: np.ndarray) -> np.ndarray:
    """float64 -> float32, never below ``d`` (SQLite's ``rtreeValueUp``)."""
    d = np.asarray(d, dtype=np.float64)
    f = d.astype(np.float32)
    under = f.astype(np.float64) < d
    f[under] = (d[under] * np.where(d[under] < 0, _TOWARDS, _AWAY)).astype(np.float32)
    return f


@cache
def _hilbert_tables(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The Hilbert walk ``k`` bits of x and y at a time: for each state (a
    flip and a swap of the cell's quadrants, 2 bits) and ``k`` bits of x and
    of y (``state << 2k | x << k | y``), the ``2k`` bits of the position and
    the next state. One bit at a time it is the classic rotate-and-flip
    walk; the tables run ``k`` of its steps in one look-up."""
    n = 1 << (2 * k)
    out = np.zeros(4 * n, np.int64)
    nxt = np.zeros(4 * n, np.int64)
    for state in range(4):
        for xy in range(n):
            x, y = xy >> k, xy & ((1 << k) - 1)
            flip, swap, d = state >> 1, state & 1, 0
            for bit in range(k - 1, -1, -1):
                rx, ry = (x >> bit) & 1, (y >> bit) & 1
                if swap:
                    rx, ry = ry, rx
                rx, ry = rx ^ flip, ry ^ flip
                d = (d << 2) | ((3 * rx) ^ ry)
                if not ry:  # rotate the quadrant so that the curve inside it runs the standard way
                    flip ^= rx
                    swap ^= 1
            out[state * n + xy] = d
            nxt[state * n + xy] = (flip << 1) | swap
    return out, nxt


_HILBERT_BITS = 4  # per look-up: tables of 4 x 256 entries, made at the first bulk load


def hilbert_keys(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Positions along a Hilbert curve of ``2**bits`` cells a side through
    the points' bounding square (for all points at once, :data:`_HILBERT_BITS`
    bits of each coordinate per step).

    Parameters
    ----------
    x, y : (n,) float
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    side = (1 << bits) - 1
    span = max(float(np.ptp(x)) if len(x) else 0.0, float(np.ptp(y)) if len(y) else 0.0) or 1.0
    ix = np.clip(((x - (x.min() if len(x) else 0)) / span * side), 0, side).astype(np.int64)
    iy = np.clip(((y - (y.min() if len(y) else 0)) / span * side), 0, side).astype(np.int64)
    k = _HILBERT_BITS
    table_out, table_next = _hilbert_tables(k)
    mask = (1 << k) - 1
    d = np.zeros(len(x), np.int64)
    state = np.zeros(len(x), np.int64)
    # from the top, k bits at a time (bits above ``bits`` are 0: the walk
    # then stays in the first quadrant, a Hilbert curve of its own)
    for at in range(-(-bits // k) * k - k, -1, -k):
        idx = (state << (2 * k)) | (((ix >> at) & mask) << k) | ((iy >> at) & mask)
        d = (d << (2 * k)) | table_out[idx]
        state = table_next[idx]
    return d


@dataclass(frozen=True)
class PackedTree:
    """An R*Tree's table rows, made by :func:`pack` and written by
    :func:`write_packed`."""

    #: ``(nodeno, data)`` of every node
    node_rows: list[tuple[int, bytes]]
    #: every entry's leaf: one JSON array of ``entry << 24 | leaf`` (in entry
    #: order), or ``(entry, leaf)`` rows where the keys do not fit that packing
    rowids: str | list[tuple[int, int]]
    #: ``(nodeno, parentnode)`` of every node but the root
    parent_rows: list[tuple[int, int]]
    depth: int


def bulk_load(conn: sqlite3.Connection, table: str, ids: np.ndarray, boxes: np.ndarray) -> int:
    """Fill the empty 3D R*Tree ``table`` with ``ids`` and their ``boxes``.

    Parameters
    ----------
    ids : (n,) int
        Entry ids (feature keys), unique.
    boxes : (n, 6) float
        ``minx, maxx, miny, maxy, minz, maxz`` in SQLite's column order.

    Returns the depth of the tree built.
    """
    size = node_size(conn, table)
    if not len(ids):
        return 0
    return write_packed(conn, table, pack(ids, boxes, size))


def node_size(conn: sqlite3.Connection, table: str) -> int:
    """The node size of the empty R*Tree ``table`` (an error if it holds entries)."""
    if conn.execute(f'SELECT COUNT(*) FROM "{table}_rowid"').fetchone()[0]:
        raise RuntimeError(f"R-tree {table} is not empty: a bulk load needs an empty one")
    return int(conn.execute(f'SELECT length(data) FROM "{table}_node" WHERE nodeno = 1'
                            ).fetchone()[0])


def pack(ids: np.ndarray, boxes: np.ndarray, node_size: int) -> PackedTree:
    """The rows of a packed Hilbert R*Tree of ``ids`` and their ``boxes`` (as
    :func:`bulk_load` takes them; at least one) with nodes of ``node_size``
    bytes. Touches no database: an import packs its tree while SQLite
    builds its indexes."""
    ids = np.asarray(ids, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    fanout = (node_size - 4) // _CELL.itemsize
    f32 = np.empty((len(ids), 6), np.float32)
    f32[:, 0::2] = round_down(boxes[:, 0::2])
    f32[:, 1::2] = round_up(boxes[:, 1::2])
    order = np.argsort(hilbert_keys((boxes[:, 0] + boxes[:, 1]) / 2,
                                    (boxes[:, 2] + boxes[:, 3]) / 2), kind="stable")
    level_ids, level_boxes = ids[order], f32[order]

    node_rows: list[tuple[int, bytes]] = []
    parent_rows: list[tuple[int, int]] = []
    leaves: tuple[np.ndarray, int] | None = None
    next_node = 2
    depth = 0
    while True:
        n = len(level_ids)
        is_root = n <= fanout
        starts = np.arange(0, n, fanout)
        numbers = np.array([1]) if is_root else np.arange(next_node, next_node + len(starts))
        next_node += 0 if is_root else len(starts)
        cells = np.empty(n, _CELL)
        cells["id"] = level_ids
        cells["box"] = level_boxes
        raw = cells.tobytes()
        for a, number in zip(starts.tolist(), numbers.tolist()):
            b = min(a + fanout, n)
            head = int(depth if is_root else 0).to_bytes(2, "big") + int(b - a).to_bytes(2, "big")
            body = raw[a * _CELL.itemsize:b * _CELL.itemsize]
            node_rows.append((int(number), head + body + bytes(node_size - 4 - len(body))))
        if leaves is None:  # entry k of the leaf level is in leaf numbers[0] + k // fanout
            leaves = (level_ids, int(numbers[0]))
        else:
            owner = np.repeat(numbers, np.diff(np.append(starts, n)))
            parent_rows += zip(level_ids.tolist(), owner.tolist())
        if is_root:
            break
        # the next level up: one cell per node, its box around its children's
        level_boxes = np.empty((len(starts), 6), np.float32)
        level_boxes[:, 0::2] = np.minimum.reduceat(cells["box"][:, 0::2], starts, axis=0)
        level_boxes[:, 1::2] = np.maximum.reduceat(cells["box"][:, 1::2], starts, axis=0)
        level_ids = numbers
        depth += 1
    # a million (entry, leaf) rows: SQLite reads them from one JSON array, in
    # entry order (appended to the table's B-tree, no Python values bound one
    # by one), each pair packed in one integer
    ordered, first_leaf = leaves  # type: ignore[misc]
    leaf = first_leaf + np.arange(len(ordered)) // fanout
    if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):  # keys in order (an import's):
        by_id = np.empty_like(order)                       # undo the Hilbert sort
        by_id[order] = np.arange(len(order))
    else:
        by_id = np.argsort(ordered, kind="stable")
    rowids: str | list[tuple[int, int]]
    if ordered.min() >= 0 and ordered.max() < (1 << (62 - _LEAF_BITS)) and \
            leaf.max() < (1 << _LEAF_BITS):
        rowids = json.dumps(((ordered[by_id] << _LEAF_BITS) | leaf[by_id]).tolist())
    else:  # keys beyond what the packing holds
        rowids = list(zip(ordered[by_id].tolist(), leaf[by_id].tolist()))
    return PackedTree(node_rows, rowids, parent_rows, depth)


def write_packed(conn: sqlite3.Connection, table: str, tree: PackedTree) -> int:
    """Write a tree :func:`pack` made into the empty R*Tree ``table``; its depth."""
    conn.execute(f'DELETE FROM "{table}_node"')
    conn.execute(f'DELETE FROM "{table}_parent"')
    conn.executemany(f'INSERT INTO "{table}_node" VALUES (?, ?)', tree.node_rows)
    if isinstance(tree.rowids, str):
        conn.execute(f'INSERT INTO "{table}_rowid" (rowid, nodeno) SELECT value >> '
                     f'{_LEAF_BITS}, value & {(1 << _LEAF_BITS) - 1} FROM json_each(?)',
                     (tree.rowids,))
    else:
        conn.executemany(f'INSERT INTO "{table}_rowid" (rowid, nodeno) VALUES (?, ?)',
                         tree.rowids)
    conn.executemany(f'INSERT INTO "{table}_parent" VALUES (?, ?)', tree.parent_rows)
    return tree.depth

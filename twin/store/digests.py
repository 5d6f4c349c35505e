"""Version digests: one hash of everything a stored feature version holds.

A digest (32 hex digits, BLAKE2b) covers a feature's row (key, batch, tile
and digest left out), its mesh rows in LoD order and its edge row, each
value as the store keeps it (encoded geometry, JSON text). Equal digests
mean equal stored versions: a re-import compares them to tell unchanged
features from changed ones without reading them back, and a diff within a
twin skips versions whose digests agree.

Each value is hashed as a one-byte tag and its bytes: ``0x00`` for null;
``0x01``, the length (8 bytes, little-endian) and the bytes of a blob;
``0x02``, the length and the UTF-8 of a text; ``0x03`` and a number as a
double (a REAL column gives back 10.0 for a written 10). Mesh rows follow
the row behind ``0x10`` each, the edge behind ``0x11``. How a number's
double is written is the twin's **digest format** (``digest_format`` in
``twin_meta``):

* **1**, twins made before it was recorded: its shortest ``repr`` text.
  Kept for them, so that the digests they hold stay valid.
* **2**, twins made since: its 8 bytes, little-endian (every NaN as the
  same one). Written in one numpy pass for a column of numbers instead of
  a ``repr`` per value, which was a third of a bulk import's row
  preparation.

A twin's digests are only ever compared with digests of the same twin,
written in its own format (a copy into another twin computes them again).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from ..errors import StoreError

#: The format of new twins' digests (see the module).
DIGEST_FORMAT = 2
#: The format of twins that record none.
FIRST_FORMAT = 1

#: Columns of a feature row a version's digest leaves out: its key, its batch,
#: the partition key (derived from the bounds), the digest itself and, in the
#: history, the batch that ended the version.
_NOT_DIGESTED = frozenset(("fid", "batch_id", "tile", "digest", "retired_batch"))
_NUMBER = struct.Struct("<Bd")
_NAN = float("nan")


def digest_format_of(meta: Mapping[str, Any]) -> int:
    """A twin's digest format from its ``twin_meta`` (1 where none is named)."""
    value = meta.get("digest_format")
    if value is None:
        return FIRST_FORMAT
    if str(value) not in ("1", "2"):
        raise StoreError(f"this twin's digest format {value!r} is not known to this version "
                         "of the toolkit; upgrade it")
    return int(value)


def _number(fmt: int, v: float) -> bytes:
    if fmt == 1:
        return b"\x03" + repr(v).encode()
    return _NUMBER.pack(3, _NAN if v != v else v)


def _too_large() -> StoreError:
    return StoreError("cannot digest an integer too large for a double")


def digest_value(h: Any, v: Any, fmt: int = DIGEST_FORMAT) -> None:
    """Hash one stored value into ``h`` (anything with ``update``): the
    reference the column-wise encoding below must agree with."""
    if v is None:
        h.update(b"\x00")
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        h.update(b"\x01" + len(b).to_bytes(8, "little") + b)
    elif isinstance(v, str):
        b = v.encode("utf-8")
        h.update(b"\x02" + len(b).to_bytes(8, "little") + b)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            h.update(_number(fmt, float(v)))
        except OverflowError:
            raise _too_large() from None
    else:
        raise StoreError(f"cannot digest a stored value of type {type(v).__name__}")


def version_digests(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    mesh_rows: Mapping[Any, Sequence[Sequence[Any]]],
                    edge_rows: dict[Any, Sequence[Any]], fmt: int = DIGEST_FORMAT
                    ) -> list[str]:
    """The digest of each feature version (see the module): ``columns`` name
    the row's values, ``mesh_rows`` are ``fid -> rows`` (in LoD order,
    without the key), ``edge_rows`` ``fid -> row`` (without the key); ``fmt``
    the twin's digest format.

    Every import digests every feature, so the values are encoded a column
    at a time (one comprehension or numpy pass per column, a constant for a
    column that is all null) rather than one value at a time; the bytes
    hashed are those :func:`digest_value` gives, value after value.

    >>> a = version_digests(("fid", "name"), [(1, "x")], {}, {})
    >>> a == version_digests(("fid", "name"), [(7, "x")], {}, {})
    True
    >>> a == version_digests(("fid", "name"), [(1, "y")], {}, {})
    False
    """
    if not rows:
        return []
    keep = [i for i, c in enumerate(columns) if c not in _NOT_DIGESTED]
    by_column = list(zip(*rows))
    heads = _join_columns([by_column[i] for i in keep], len(rows), fmt)
    tails = _tails(by_column[list(columns).index("fid")], mesh_rows, edge_rows, fmt)
    blake = hashlib.blake2b
    if tails is None:
        return [blake(h, digest_size=16).hexdigest() for h in heads]
    return [blake(h + t, digest_size=16).hexdigest() for h, t in zip(heads, tails)]


def _tails(fids: Sequence[Any], mesh_rows: Mapping[Any, Sequence[Sequence[Any]]],
           edge_rows: dict[Any, Sequence[Any]], fmt: int) -> list[bytes] | None:
    """Per feature, the bytes hashed after its row: ``0x10`` and the values of
    each mesh row (in LoD order), ``0x11`` and the edge's; ``None`` when no
    feature has either."""
    owners: list[int] = []
    meshes: list[Sequence[Any]] = []
    edge_owners: list[int] = []
    edges: list[Sequence[Any]] = []
    get_meshes, get_edge = mesh_rows.get, edge_rows.get
    for k, fid in enumerate(fids):
        ms = get_meshes(fid)
        if ms:
            if len(ms) > 1:
                ms = sorted(ms, key=lambda m: m[1])
            meshes += ms
            owners += [k] * len(ms)
        if edge_rows:
            e = get_edge(fid)
            if e is not None:
                edges.append(e)
                edge_owners.append(k)
    if not meshes and not edges:
        return None
    tails = [b""] * len(fids)
    for mark, owner, values in ((b"\x10", owners, meshes), (b"\x11", edge_owners, edges)):
        if not values:
            continue
        cols = list(zip(*values))[1:]  # without the key
        for k, data in zip(owner, _join_columns(cols, len(values), fmt)):
            tails[k] += mark + data
    return tails


def _join_columns(columns: Sequence[Sequence[Any]], n: int, fmt: int) -> list[bytes]:
    """Per row, the bytes :func:`digest_value` gives for its values in
    ``columns`` (``n`` rows), joined. In format 2, neighbouring columns of
    numbers without nulls are written together, one block per row."""
    if not columns:
        return [b""] * n
    encoded: list[Any] = []
    numbers: list[Sequence[Any]] = []  # a run of number columns (format 2)
    for col in columns:
        kinds = set(map(type, col))
        if fmt == 2 and kinds and kinds <= {float, int}:
            numbers.append(col)
            continue
        if numbers:
            encoded.append(_number_block(numbers, n))
            numbers = []
        e = _encode_column(col, kinds, fmt)
        if isinstance(e, bytes) and encoded and isinstance(encoded[-1], bytes):
            encoded[-1] += e  # neighbouring constant columns: one constant
        else:
            encoded.append(e)
    if numbers:
        encoded.append(_number_block(numbers, n))
    if len(encoded) == 1:
        e = encoded[0]
        return [e] * n if isinstance(e, bytes) else e
    return list(map(b"".join, zip(*(repeat(e, n) if isinstance(e, bytes) else e
                                     for e in encoded))))


def _number_block(columns: list[Sequence[Any]], n: int) -> list[bytes]:
    """Per row, its values in ``columns`` (numbers, no null) as format 2
    writes them: ``0x03`` and the little-endian double of each."""
    k = len(columns)
    try:
        values = np.ascontiguousarray(np.array(columns, dtype="<f8").T)  # (n, k)
    except OverflowError:  # an integer beyond a double: as float() refuses it
        raise _too_large() from None
    values[np.isnan(values)] = _NAN
    block = np.empty((n, k, 9), np.uint8)
    block[:, :, 0] = 3
    block[:, :, 1:] = values.view(np.uint8).reshape(n, k, 8)
    data = block.tobytes()
    w = 9 * k
    return [data[i:i + w] for i in range(0, n * w, w)]


_NONE = type(None)
#: Texts and blobs shorter than this take their tag and length from a table.
_SHORT = 1024
_TEXT_HEADS = [b"\x02" + n.to_bytes(8, "little") for n in range(_SHORT)]
_BLOB_HEADS = [b"\x01" + n.to_bytes(8, "little") for n in range(_SHORT)]


def _tagged(v: str | bytes) -> bytes:
    """A text or a blob as hashed (see :func:`digest_value`)."""
    if isinstance(v, str):
        e = v.encode("utf-8")
        return b"\x02" + len(e).to_bytes(8, "little") + e
    return b"\x01" + len(v).to_bytes(8, "little") + v


def _encode_column(col: Sequence[Any], kinds: set[type], fmt: int) -> bytes | list[bytes]:
    """One column's values as digested: a list of bytes, or one bytes value
    that every row shares (a column all null, or one text or blob in every row)."""
    kinds = kinds - {_NONE}
    if not kinds:
        return b"\x00"
    if kinds == {str} or kinds == {bytes}:
        first = col[0]
        if first is not None and first == col[-1] and col.count(first) == len(col):
            return _tagged(first)  # one value in every row (a layer, an LoD)
        try:  # the tag and length from a table: a third less than making them
            if kinds == {str}:
                heads = _TEXT_HEADS
                return [b"\x00" if v is None else heads[len(e := v.encode("utf-8"))] + e
                        for v in col]
            heads = _BLOB_HEADS
            return [b"\x00" if v is None else heads[len(v)] + v for v in col]
        except IndexError:  # a value of _SHORT bytes or more
            return [b"\x00" if v is None else _tagged(v) for v in col]
    if fmt == 1 and kinds == {float}:
        return [b"\x00" if v is None else b"\x03" + repr(v).encode() for v in col]
    if kinds <= {float, int}:
        pack = _NUMBER.pack  # struct takes an int for a double as float() does
        try:
            if fmt == 1:
                return [b"\x00" if v is None else _number(1, float(v)) for v in col]
            return [b"\x00" if v is None else pack(3, v if v == v else _NAN) for v in col]
        except (OverflowError, struct.error):
            raise _too_large() from None
    out: list[bytes] = []  # mixed or other types, one at a time
    for v in col:
        h = _Collect()
        digest_value(h, v, fmt)
        out.append(h.data)
    return out


class _Collect:
    """A stand-in hash that keeps what it is given."""

    def __init__(self) -> None:
        self.data = b""

    def update(self, b: bytes) -> None:
        self.data += b

"""Schema versions of a twin, and the upgrades between them.

Every twin records the version of its table layout (``twin_meta``
``schema_version``). The layout is the same idea in every backend, so the
version numbers are shared: version 2 means the same columns in a
GeoPackage and in PostgreSQL. Each backend lists its :class:`Migration`
steps; opening a twin:

* written by a **newer** toolkit: refused (:class:`SchemaVersionError`,
  upgrade the toolkit);
* written by an **older** one and opened **writable**: the missing steps run
  in order, inside one transaction with the open (all or nothing), and each
  is recorded in ``twin_migrations``;
* older and opened **read-only**: refused with a message saying how to
  upgrade (a read-only open must not change the twin, and reading an old
  layout with new code is how silent misreads happen).

A new version is an addition: write its step for each backend, append it to
their lists, raise :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..errors import SchemaVersionError

#: Version of the twin layout written by this code (both backends).
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Migration:
    """One upgrade step: brings a twin from ``version - 1`` to ``version``.

    ``apply`` gets the backend's connection inside the upgrade transaction and
    the twin's metadata (``twin_meta`` as a dict)."""

    version: int
    description: str
    apply: Callable[[Any, dict[str, str]], None]


def check_version(found: int, location: str, toolkit: str, *, readonly: bool,
                  latest: int = SCHEMA_VERSION) -> bool:
    """Whether a twin at schema ``found`` needs upgrading; raises when it
    cannot be opened as asked (newer, or older and read-only)."""
    if found > latest:
        raise SchemaVersionError(
            f"{location} was written with twin schema version {found} by toolkit "
            f"{toolkit}; this toolkit ({__version__}) reads up to version {latest}. "
            "Upgrade the toolkit to open it.")
    if found < latest and readonly:
        raise SchemaVersionError(
            f"{location} has twin schema version {found} (toolkit {toolkit}); this toolkit "
            f"reads version {latest}. It is open read-only, so it was not upgraded: run "
            f"'twin upgrade {location}' (or open it writable once) to upgrade it in place.")
    return found < latest


def pending(found: int, steps: Sequence[Migration], latest: int = SCHEMA_VERSION
            ) -> list[Migration]:
    """The steps that bring a twin at ``found`` to ``latest``, in order; a
    clear error if one is missing (a bug of ours, not of the twin)."""
    todo = sorted((s for s in steps if found < s.version <= latest), key=lambda s: s.version)
    if [s.version for s in todo] != list(range(found + 1, latest + 1)):
        raise RuntimeError(f"no complete upgrade path from schema {found} to {latest}: "
                           f"steps {[s.version for s in todo]}")
    return todo

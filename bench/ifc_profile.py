"""Where an IFC import's CPU goes: the import process by section, and the
geometry workers.

Runs one ``import_file`` into a fresh twin and prints the CPU seconds of the
import process and of its children (the forker and the geometry workers),
then the CPU time spent in each section of the import process, measured per
thread (``time.thread_time``) around the functions named below, so a section
is counted in whichever thread runs it (the store's writer thread writes).
What the sections do not cover (reading the workers' stream, features,
the placement check, Python) is the rest. The sections do not nest (but
for the network topology, which places its ports), so they add up.

Usage: ``python bench/ifc_profile.py FILE [--crs EPSG:x] [--origin X,Y,Z]``
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import ifc as ifc_mod  # noqa: E402
from converters import import_file  # noqa: E402
from twin.store import writer  # noqa: E402
from twin.store.gpkg import writer as gpkg_writer  # noqa: E402

SECONDS: dict[str, float] = {}


def timed(owner: Any, name: str, label: str) -> None:
    """Count the thread CPU of ``owner.name`` under ``label``."""
    func: Callable = getattr(owner, name)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            SECONDS[label] = SECONDS.get(label, 0.0) + time.thread_time() - t

    setattr(owner, name, wrapper)


SECTIONS = (
    (ifc_mod, "open_model", "parse the file (ifcopenshell)"),
    (ifc_mod, "read_georef", "georeferencing"),
    (ifc_mod, "Model", "product lists, buildings of elements"),
    (ifc_mod, "attributes_of", "attributes (property sets, type, material)"),
    (ifc_mod.Placer, "__call__", "placing vertices (pyproj, transformers made)"),
    (ifc_mod, "plan_outlines", "ground projections (unions, hulls)"),
    (ifc_mod.EnvelopeParts, "add", "envelope parts kept (temporary file)"),
    (ifc_mod, "building_feature", "building: LoD1 envelope, top surface"),
    (ifc_mod, "network_topology", "network topology"),
    (writer.ChunkedBatchWriter, "_prepare", "store: checks, encoding (main thread)"),
    (gpkg_writer.GpkgBatchWriter, "_write", "store: SQLite writes, digests (writer thread)"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--crs", default="EPSG:26919")
    ap.add_argument("--origin")
    args = ap.parse_args()
    options = {"origin": tuple(float(v) for v in args.origin.split(","))} if args.origin \
        else {}
    import ifcopenshell.geom  # noqa: F401  (as the bench: imports are not timed)
    import ifcopenshell.util.element  # noqa: F401

    for owner, name, label in SECTIONS:
        timed(owner, name, label)
    with tempfile.TemporaryDirectory() as tmp:
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        with twin.create_twin(Path(tmp) / "p.gpkg", args.crs) as store:
            import_file(store, args.file, options=options)
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime
    workers = kids.ru_utime + kids.ru_stime
    print(f"{args.file.name}: import process {process:.2f} s CPU, geometry workers "
          f"{workers:.2f} s, together {process + workers:.2f} s")
    for label, sec in sorted(SECONDS.items(), key=lambda kv: -kv[1]):
        print(f"  {label:48s} {sec:6.2f}")
    print(f"  {'the rest of the import process':48s} {process - sum(SECONDS.values()):6.2f}")


if __name__ == "__main__":
    main()

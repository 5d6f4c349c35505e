"""The test suite's time, per directory and per file (issue 23: ``make test``
under 5 minutes on a quiet 2-core machine).

``run`` runs pytest (the arguments after ``--``, e.g. ``-n auto`` or
``-n 0``) with ``--junitxml`` and the ``suite_cpu`` plugin (each test's CPU
seconds), and prints the run's wall clock and CPU (pytest and every process
it waited for: the xdist workers, Chromium, ``ogrinfo``; not a PostgreSQL
server, which detaches), then the report. ``report`` prints the report of
a JUnit file written before.

The report sums, per directory of ``tests/`` (and for the slowest files),
the tests' times as pytest reports them (setup + call + teardown: a
module's or session's fixtures count in the first test that uses them) and
their CPU seconds where the plugin recorded them. Run serially, the summed
time is the directory's wall clock; under xdist it is the workers' busy
time, and only the run's wall clock says how long one waits. ``--baseline``
names the JUnit file of another run (the suite before a change, on the same
machine) and adds the ratio after/before per row.

    python bench/suite_bench.py run --baseline before.xml --out after.xml -- -n auto
    python bench/suite_bench.py report after.xml --baseline before.xml --files 25
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import xml.etree.ElementTree as ET  # our own pytest's output, not untrusted input
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _file_of(classname: str) -> str:
    """``tests.api.test_sta.TestX`` -> ``tests/api/test_sta.py``, by the files that exist."""
    parts = classname.split(".")
    for n in range(len(parts), 0, -1):
        path = Path(*parts[:n]).with_suffix(".py")
        if (ROOT / path).is_file():
            return path.as_posix()
    return "/".join(parts)


def _directory(file: str) -> str:
    parts = file.split("/")
    # tests/<dir>/... per directory; the files straight in tests/ together
    return "/".join(parts[:2]) if len(parts) > 2 else "tests/*.py"


def read(junit: Path) -> dict[str, list[tuple[float, float | None]]]:
    """Per test file, ``(time, cpu or None)`` of each test case."""
    out: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for case in ET.parse(junit).getroot().iter("testcase"):
        cpu = next((float(p.get("value", "nan")) for p in case.iter("property")
                    if p.get("name") == "cpu_s"), None)
        out[_file_of(case.get("classname", ""))].append((float(case.get("time", 0)), cpu))
    return out


def _totals(rows: list[tuple[float, float | None]]) -> tuple[int, float, float | None]:
    cpus = [c for _, c in rows if c is not None]
    return len(rows), sum(t for t, _ in rows), sum(cpus) if len(cpus) == len(rows) else None


def _fmt_cpu(cpu: float | None) -> str:
    return f"{cpu:9.1f}" if cpu is not None else f"{'-':>9}"


def _table(title: str, groups: dict[str, list], base: dict[str, list] | None,
           keys: list[str]) -> None:
    print(f"\n{title:<44} {'tests':>6} {'time s':>9} {'CPU s':>9}"
          + (f" {'before s':>9} {'after/before':>12}" if base is not None else ""))
    for key in keys:
        n, t, cpu = _totals(groups.get(key, []))
        line = f"{key:<44} {n:>6} {t:9.1f} {_fmt_cpu(cpu)}"
        if base is not None:
            bn, bt, _ = _totals(base.get(key, []))
            ratio = f"{t / bt:12.2f}" if bt else f"{'-':>12}"
            line += f" {bt:9.1f} {ratio}"
        print(line)


def report(junit: Path, baseline: Path | None, files: int) -> None:
    by_file = read(junit)
    base_file = read(baseline) if baseline else None

    def by_dir(per_file):
        out = defaultdict(list)
        for f, rows in per_file.items():
            out[_directory(f)].extend(rows)
        return out

    dirs, base_dirs = by_dir(by_file), by_dir(base_file) if base_file else None
    keys = sorted(set(dirs) | set(base_dirs or ()))
    _table("directory", dirs, base_dirs, keys)
    everything = {"all": [r for rows in by_file.values() for r in rows]}
    base_all = {"all": [r for rows in base_file.values() for r in rows]} if base_file else None
    _table("whole suite (summed over tests)", everything, base_all, ["all"])
    if files:
        slowest = sorted(by_file, key=lambda f: -_totals(by_file[f])[1])[:files]
        _table(f"slowest {files} files", by_file, base_file, slowest)


def run(pytest_args: list[str], out: Path, baseline: Path | None, files: int) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "bench"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "pytest", "-p", "suite_cpu", f"--junitxml={out}",
           *pytest_args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"\npytest {' '.join(pytest_args)}: exit {rc}, wall {wall:.1f} s "
          f"({wall / 60:.1f} min), CPU {cpu:.1f} s, load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    report(out, baseline, files)
    return rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run pytest (arguments after --) and report")
    r.add_argument("--out", type=Path, default=Path("suite.xml"))
    p = sub.add_parser("report", help="report a JUnit file")
    p.add_argument("junit", type=Path)
    for a in (r, p):
        a.add_argument("--baseline", type=Path, help="the JUnit file of a run to compare with")
        a.add_argument("--files", type=int, default=20, help="the slowest files to list")
    args, rest = ap.parse_known_args()
    if args.cmd == "report":
        report(args.junit, args.baseline, args.files)
        return 0
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return run(rest, args.out.resolve(), args.baseline, args.files)


if __name__ == "__main__":
    sys.exit(main())

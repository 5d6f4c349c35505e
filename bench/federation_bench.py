"""Federated search and indicator roll-up against the slowest member alone.

Starts three ``twin serve`` processes on 127.0.0.1, as ``make
demo-federation`` does: the Hohhot demo district (the city), a generated
county town (private, read with its token) and a region twin with both as
members. Then, for the same questions, it times:

- ``search``: a WGS 84 bbox page of up to 100 buildings, asked of each
  member alone (``/collections/buildings/items``) and of the region
  (``/federation/search``, this twin and both members);
- ``rollup``: the health-check indicators for a year, of each member alone
  (``/indicators``) and of the region (``/federation/indicators``).

Each question is asked ``--rounds`` times after one warm-up (members keep
their indicators per twin revision; the region revalidates its members'
answers with ETags). The median of the region is set against the median
of the slowest member: the target is <= 1.3 x slowest + 50 ms (the region
asks its members at once, so it should cost one member's time plus its own
overhead, not the sum).

Usage: ``python bench/federation_bench.py [--rounds 30] [--demo out/demo.gpkg]
[--json out.json]`` (without ``--demo`` the demo district is imported into a
temporary directory first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx2 as httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import twin  # noqa: E402

BBOX = "111.0,40.5,111.9,41.0"
TOKEN = "bench-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(path: Path, *options: str):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin_cli.main", "serve", str(path), "--port", str(port),
         "--log-level", "warning", "--access-log", "off", *options], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("twin serve did not start: " + proc.stderr.read().decode())
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        proc.stderr.close()


def demo_twin(directory: Path) -> Path:
    from converters import import_file

    src = REPO / "sample_models" / "hohhot_demo"
    path = directory / "demo.gpkg"
    with twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum") as s:
        for f in sorted(src.glob("*.geojson")) + [src / "buildings.city.json",
                                                   src / "community_centre.ifc"]:
            import_file(s, f, options={"id_prefix": "hohhot"})
    return path


def county_twin(directory: Path) -> Path:
    sys.path.insert(0, str(REPO / "sample_models" / "county_demo"))
    import generate

    from converters import import_file

    path = directory / "county.gpkg"
    with twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum") as s:
        import_file(s, generate.write(directory / "county"))
    return path


def timed(url: str, params: dict, headers: dict, rounds: int) -> list[float]:
    out = []
    with httpx.Client(timeout=300, headers=headers) as c:
        c.get(url, params=params).raise_for_status()  # warm-up
        for _ in range(rounds):
            t0 = time.perf_counter()
            r = c.get(url, params=params)
            out.append(time.perf_counter() - t0)
            r.raise_for_status()
            if "federation" in url and r.json().get("failures"):
                raise RuntimeError(f"partial answer: {r.json()['failures']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--demo", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        d = Path(tmp)
        demo = args.demo or demo_twin(d)
        county = county_twin(d)
        region = d / "region.gpkg"
        twin.create_twin(region, "EPSG:4546").close()
        (d / "county.token").write_text(TOKEN)
        city_url = stack.enter_context(serve(demo))
        county_url = stack.enter_context(serve(county, "--read-token-file",
                                               str(d / "county.token")))
        (d / "members.toml").write_text(
            '[federation]\nname = "region"\nlevel = "region"\n\n'
            f'[[members]]\nname = "city"\nlevel = "city"\nurl = "{city_url}"\n\n'
            f'[[members]]\nname = "county"\nlevel = "county"\nurl = "{county_url}"\n'
            'token_file = "county.token"\n')
        region_url = stack.enter_context(serve(region, "--members", str(d / "members.toml")))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        questions = {
            "search": ("/collections/buildings/items", "/federation/search",
                       {"bbox": BBOX, "limit": 100}, {"layer": "buildings"}),
            "rollup": ("/indicators", "/federation/indicators", {"year": 2025}, {}),
        }
        results = {}
        for name, (own, fed, params, extra) in questions.items():
            members = {m: statistics.median(timed(u + own, params, h, args.rounds))
                       for m, u, h in (("city", city_url, {}), ("county", county_url, auth))}
            region_s = statistics.median(timed(region_url + fed, {**params, **extra}, {},
                                               args.rounds))
            slowest = max(members.values())
            target = 1.3 * slowest + 0.050
            results[name] = {"members_median_ms": {k: round(v * 1000, 1)
                                                   for k, v in members.items()},
                             "region_median_ms": round(region_s * 1000, 1),
                             "ratio_to_slowest": round(region_s / slowest, 2),
                             "target_ms": round(target * 1000, 1),
                             "meets_target": region_s <= target}
            print(f"{name:7s} slowest member {slowest * 1000:8.1f} ms  region "
                  f"{region_s * 1000:8.1f} ms  ratio {region_s / slowest:5.2f}  "
                  f"target <= {target * 1000:.1f} ms: "
                  f"{'met' if region_s <= target else 'NOT met'}  "
                  f"(members: {results[name]['members_median_ms']})")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

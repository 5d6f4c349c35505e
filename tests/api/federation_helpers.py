"""Three levels of twins on 127.0.0.1 for the federation tests: a region
(the small hand-checked city as its own data), the Hohhot demo district as
its city, a generated county town that only its token reads (with 3D
Tiles), and the same county served by an older release of the toolkit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path

from api_helpers import TOKEN
from builders import REPO, small_city

import twin

#: The release before the federation (its /conformance declares no typed
#: filters and its indicators no numerators).
OLDER_RELEASE = "003e7a6b9f7ee7bc9ed4298337fff211cd0a4290"
#: A bbox in WGS 84 around the region's, the city's and the county's data.
EVERYWHERE = "111.0,40.5,111.9,41.0"


def region_twin(path: Path) -> Path:
    store = twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum")
    with store.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    store.close()
    return path


def county_twin(directory: Path) -> tuple[Path, Path]:
    """The generated county town as a twin, and its 3D Tiles."""
    sys.path.insert(0, str(REPO / "sample_models" / "county_demo"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    from converters import import_file
    from viewer.tiles3d import export_3dtiles

    src = generate.write(directory / "county_src")
    path = directory / "county.gpkg"
    store = twin.create_twin(path, "EPSG:4546", vertical_datum="1985 National Height Datum")
    import_file(store, src)
    export_3dtiles(store, directory / "county_tiles")
    store.close()
    return path, directory / "county_tiles"


def older_release(directory: Path) -> Path:
    """The code of :data:`OLDER_RELEASE`, from this repository's history."""
    out = subprocess.run(["git", "-C", str(REPO), "archive", OLDER_RELEASE, "twin", "twin_api",
                          "twin_cli", "viewer", "converters"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return directory


def twin_of_release(code: Path, source: Path, path: Path) -> Path:
    """A twin made by the toolkit at ``code`` (its own schema version: an older
    release refuses a twin written by a newer one) from ``source``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    for args in (["init", str(path), "--crs", "EPSG:4546", "--vertical-datum",
                  "1985 National Height Datum"], ["import", str(source), "--twin", str(path)]):
        out = subprocess.run([sys.executable, "-m", "twin_cli.main", *args], cwd=code, env=env,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"the older release's twin {args[0]} failed: {out.stderr}")
    return path


@contextmanager
def serve_release(code: Path, twin_path: Path):
    """``twin serve`` of the toolkit at ``code`` in its own process; the URL."""
    from conftest import twin_serve

    with twin_serve(twin_path, code=code) as (url, _proc):
        yield url


def members_toml(path: Path, members: list[dict], name: str = "nei-mongol") -> Path:
    lines = ["[federation]", f'name = "{name}"', 'level = "region"', 'code = "150000"', ""]
    for m in members:
        lines.append("[[members]]")
        lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in m.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def token_file(directory: Path, token: str = TOKEN) -> Path:
    p = directory / "county.token"
    p.write_text(token + "\n", encoding="utf-8")
    return p

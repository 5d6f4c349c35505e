"""The third-party validators the tests run on what the project writes, from
tests/tools (``make tools``: npm): the Khronos glTF validator and CesiumJS's
3D Tiles validator, both through node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
GLTF_VALIDATE = TOOLS / "gltf_validate.mjs"
TILES_VALIDATOR = TOOLS / "node_modules" / "3d-tiles-validator" / "build" / "main.js"


def _need(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run 'make tools' (npm installs the "
                                "validators into tests/tools/node_modules)")


def gltf_reports(paths: list[Path]) -> dict[str, dict]:
    """The glTF validator's report of each GLB: errors, warnings, infos, messages."""
    _need(TOOLS / "node_modules" / "gltf-validator" / "package.json")
    out = subprocess.run(["node", str(GLTF_VALIDATE), *map(str, paths)], check=True,
                         capture_output=True, text=True, timeout=600, cwd=TOOLS)
    return json.loads(out.stdout)


def tiles_report(tileset: Path, report: Path) -> dict:
    """The 3D Tiles validator's report of a tileset (it validates every content
    GLB too, with the glTF validator and its own checks of EXT_mesh_features and
    EXT_structural_metadata)."""
    _need(TILES_VALIDATOR)
    subprocess.run(["node", str(TILES_VALIDATOR), "--tilesetFile", str(tileset),
                    "--reportFile", str(report)], check=False, capture_output=True,
                   text=True, timeout=600, cwd=TOOLS)
    return json.loads(report.read_text(encoding="utf-8"))


def problems(report: dict) -> list[str]:
    """Every error or warning of a 3D Tiles validator report, causes included."""
    found = []

    def walk(issue: dict, path: str) -> None:
        if issue.get("severity") in ("ERROR", "WARNING"):
            found.append(f"{path}: {issue['type']} {issue['message']}")
        for c in issue.get("causes", []):
            walk(c, f"{path} > {issue.get('path', '')}")

    for i in report.get("issues", []):
        walk(i, "")
    return found

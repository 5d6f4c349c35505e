"""The third-party validator the tests run on what the project writes, from
tests/tools (``make tools``: npm): the Khronos glTF validator, through node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
GLTF_VALIDATE = TOOLS / "gltf_validate.mjs"


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

"""The region one-map scene: members' 3D Tiles as external tilesets.

The region's ``tileset.json`` holds one child per member that serves 3D
Tiles (``twin serve --tiles``); each child's content is the member's own
``tileset.json`` (an *external tileset*, 3D Tiles 1.1, section
"External tilesets"), bounded by the member's root region. A renderer such
as the web viewer's 3d-tiles-renderer loads the region's root, and opens a
member's tiles only when the camera comes near it: the region, then the
city, then the county, without the region ever holding their tiles.

Members' tiles are fetched through the region's server
(``/federation/members/{name}/tiles/...``): the browser talks to one origin,
and a member's token stays on the server. Members' tiles are already
placed on the Earth (glTF nodes in EPSG:4978, :mod:`viewer.tiles3d`), so no
transform is needed between them.
"""

from __future__ import annotations

import re
from typing import Any

from .client import Failure, MemberClient, MemberFailure
from .config import Member
from .service import FederationService

#: Paths under a member's tiles that the region passes on.
TILE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,299}")


def tile_path_ok(path: str) -> bool:
    return bool(TILE_PATH.fullmatch(path)) and ".." not in path.split("/") \
        and "//" not in path


def _root(m: Member, client: MemberClient, caps
          ) -> tuple[dict[str, Any], str, list | None]:
    if caps.tiles is None:
        raise MemberFailure(Failure(m.name, "unsupported", "serves no 3D Tiles (start its "
                                    "'twin serve' with --tiles)"))
    doc = client.get_json(caps.tiles)
    root = doc.get("root") if isinstance(doc, dict) else None
    bv = root.get("boundingVolume") if isinstance(root, dict) else None
    region = bv.get("region") if isinstance(bv, dict) else None
    err = root.get("geometricError") if isinstance(root, dict) else None
    if not (isinstance(root, dict) and isinstance(region, list) and len(region) == 6
            and all(isinstance(v, (int, float)) for v in region)
            and isinstance(err, (int, float))):
        raise MemberFailure(Failure(m.name, "bad answer", f"{caps.tiles} has no root with a "
                                    "region bounding volume and a geometric error"))
    extras = doc.get("asset", {}).get("extras") if isinstance(doc.get("asset"), dict) else None
    frame = extras.get("local_frame") if isinstance(extras, dict) else None
    return root, caps.tiles, frame if isinstance(frame, list) and len(frame) == 16 else None


def region_tileset(service: FederationService, own: dict[str, Any] | None) -> dict[str, Any]:
    """The region's tileset; ``own`` is this twin's tileset (or ``None``)."""
    children = []
    listed = []
    failures = []
    frames = []
    if own is not None:
        frames.append(own.get("asset", {}).get("extras", {}).get("local_frame"))
        r = own["root"]
        children.append({"boundingVolume": r["boundingVolume"],
                         "geometricError": r["geometricError"],
                         "content": {"uri": "../tiles/tileset.json"}})
        listed.append(service.federation.name)
    for m, res in zip(service.members, service.ask(_root), strict=True):
        if isinstance(res, Failure):
            failures.append(res.to_dict())
            continue
        root, path, frame = res
        frames.append(frame)
        children.append({"boundingVolume": {"region": root["boundingVolume"]["region"]},
                         "geometricError": root["geometricError"],
                         "content": {"uri": f"members/{m.name}{path}"}})
        listed.append(m.name)
    regions = [c["boundingVolume"]["region"] for c in children]
    if regions:
        box = [min(r[0] for r in regions), min(r[1] for r in regions),
               max(r[2] for r in regions), max(r[3] for r in regions),
               min(r[4] for r in regions), max(r[5] for r in regions)]
        error = max(c["geometricError"] for c in children) * 4 + 100.0
    else:
        box, error = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0.0
    return {
        "asset": {"version": "1.1", "generator": "digital-twin-city federation",
                  "extras": {"federation": service.federation.name, "members": listed,
                             "partial": bool(failures), "failures": failures,
                             # the first twin's frame: where a viewer centres the region
                             "local_frame": next((f for f in frames if f), None)}},
        "geometricError": error,
        "root": {"boundingVolume": {"region": box}, "geometricError": error,
                 "refine": "ADD", "children": children},
    }

"""What a member twin offers, from its landing page and ``/conformance``.

Members upgrade on their own schedule: a county may run last year's toolkit.
The region reads what each member declares and asks only for that:

- OGC API - Features core and GeoJSON: the federated search reads each
  member's ``/collections/{layer}/items`` (bbox in WGS 84), which every
  version serves;
- :data:`CONF_WHERE`: typed attribute comparisons (``where=storeys>18``) on
  items; a member without it is left out of a filtered search, marked
  ``unsupported`` (an unfiltered answer would be wrong, not partial);
- :data:`CONF_INDICATOR_PARTS`: indicators with numerators and denominators;
  a member without it is shown with its own values but left out of the
  region's totals, and said so;
- ``/twin``'s ``tiles``: a 3D Tiles tileset for the region scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import MemberClient

OGC_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
OGC_GEOJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
OGC_CRS = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
#: ``where=`` typed attribute comparisons on items (this toolkit's extension).
CONF_WHERE = "urn:digital-twin-city:conf:items-where"
#: ``/indicators`` results carry numerator, denominator and rollup.
CONF_INDICATOR_PARTS = "urn:digital-twin-city:conf:indicator-parts"
#: GET answers carry an ``ETag`` and honour ``If-None-Match``.
CONF_ETAG = "urn:digital-twin-city:conf:etag"
#: What this version of the toolkit declares beyond OGC API - Features.
TWIN_CONFORMANCE = (CONF_WHERE, CONF_INDICATOR_PARTS, CONF_ETAG)


@dataclass(frozen=True)
class Capabilities:
    title: str | None
    version: str | None
    conforms_to: frozenset[str]
    summary: dict[str, Any]

    @property
    def features(self) -> bool:
        return OGC_CORE in self.conforms_to and OGC_GEOJSON in self.conforms_to

    @property
    def where(self) -> bool:
        return CONF_WHERE in self.conforms_to

    @property
    def indicator_parts(self) -> bool:
        return CONF_INDICATOR_PARTS in self.conforms_to

    @property
    def tiles(self) -> str | None:
        """The path of the member's tileset, when it serves one."""
        t = self.summary.get("tiles")
        return t if isinstance(t, str) and t.startswith("/") else None

    @property
    def crs(self) -> str | None:
        c = self.summary.get("crs")
        if isinstance(c, dict):
            return c.get("uri") or c.get("name")
        return None

    @property
    def extent_crs84(self) -> list[float] | None:
        b = self.summary.get("bounds_crs84")
        return b if isinstance(b, list) and len(b) == 4 else None

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "version": self.version,
                "conformsTo": sorted(self.conforms_to),
                "features": self.features, "where": self.where,
                "indicator_parts": self.indicator_parts, "tiles": self.tiles,
                "crs": self.crs, "extent_crs84": self.extent_crs84}


def discover(client: MemberClient) -> Capabilities:
    """Read the landing page, ``/conformance`` and the ``/twin`` summary
    (raises :class:`~.client.MemberFailure`)."""
    landing = client.get_json("/")
    conf = client.get_json("/conformance")
    summary = client.get_json("/twin")
    if not isinstance(landing, dict) or not isinstance(conf, dict) \
            or not isinstance(conf.get("conformsTo"), list) or not isinstance(summary, dict):
        from .client import Failure, MemberFailure

        raise MemberFailure(Failure(client.member.name, "bad answer",
                                    "the landing page, /conformance or /twin is not what an "
                                    "OGC API - Features server of a twin answers"))
    version = landing.get("version")
    return Capabilities(
        title=landing.get("title") if isinstance(landing.get("title"), str) else None,
        version=version if isinstance(version, str) else None,
        conforms_to=frozenset(c for c in conf["conformsTo"] if isinstance(c, str)),
        summary=summary)

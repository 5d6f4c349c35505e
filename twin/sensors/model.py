"""The OGC SensorThings API 1.1 sensing entities, as the twin stores them.

SensorThings (OGC 18-088) describes a sensor network with eight entities:

* a **Thing** is the object observed or carrying the sensors: in the twin a
  meter on a pipe node, a pressure logger, a heat meter on a building. Its
  ``feature_id`` links it to a twin feature (an extension of ours; the
  standard keeps it in ``properties``, where the API also shows it);
* **Location** (where the Thing is, GeoJSON) and **HistoricalLocation**
  (when it was where);
* **Sensor** (the instrument, with its metadata) and **ObservedProperty**
  (the phenomenon: flow, pressure, temperature);
* **Datastream**: the series of one Sensor observing one ObservedProperty of
  one Thing, with the **unit of measurement** every value is in;
* **Observation**: one value at one phenomenon time, about a
  **FeatureOfInterest** (the thing whose property was measured).

Each entity set is described here once (its table, its properties and its
navigation links); the store and the API both work from these
descriptions. Times are kept as integer milliseconds since 1970-01-01 UTC
(:func:`to_ms`, :func:`iso`), which sort and bucket the same way in SQLite
and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..errors import QueryError


@dataclass(frozen=True)
class Prop:
    """One property of an entity: its name in the API, its column, its kind
    (``text``, ``json``, ``time``, ``number``, ``result``, ``interval``)."""

    name: str
    column: str
    kind: str = "text"
    required: bool = False


@dataclass(frozen=True)
class Link:
    """A navigation link: ``one`` (a key column on this entity's table),
    ``many`` (a key column on the target's table) or ``m2m`` (a link table
    with this entity's and the target's keys)."""

    name: str
    target: str  # entity set
    kind: str
    column: str = ""  # 'one': our column; 'many': the target's column
    table: str = ""  # 'm2m': the link table
    ours: str = ""  # 'm2m': our key's column there
    theirs: str = ""  # 'm2m': the target's key's column there


@dataclass(frozen=True)
class EntitySet:
    """An entity set (``Things``) and its entity (``Thing``)."""

    name: str
    entity: str
    table: str
    props: tuple[Prop, ...]
    links: tuple[Link, ...] = field(default_factory=tuple)

    def prop(self, name: str) -> Prop:
        for p in self.props:
            if p.name == name:
                return p
        raise QueryError(f"{self.entity} has no property {name!r}; it has "
                         f"{', '.join(p.name for p in self.props)}")

    def link(self, name: str) -> Link:
        for lk in self.links:
            if lk.name == name:
                return lk
        raise QueryError(f"{self.entity} has no navigation link {name!r}; it has "
                         f"{', '.join(lk.name for lk in self.links)}")

    def has_link(self, name: str) -> bool:
        return any(lk.name == name for lk in self.links)


_NAMED = (Prop("name", "name", required=True), Prop("description", "description",
                                                    required=True))
_PROPERTIES = Prop("properties", "properties", "json")

ENTITY_SETS: dict[str, EntitySet] = {e.name: e for e in (
    EntitySet("Things", "Thing", "twin_sta_things",
              (*_NAMED, _PROPERTIES, Prop("feature_id", "feature_id")),
              (Link("Locations", "Locations", "m2m", table="twin_sta_thing_locations",
                    ours="thing_id", theirs="location_id"),
               Link("HistoricalLocations", "HistoricalLocations", "many", column="thing_id"),
               Link("Datastreams", "Datastreams", "many", column="thing_id"))),
    EntitySet("Locations", "Location", "twin_sta_locations",
              (*_NAMED, Prop("encodingType", "encoding_type", required=True),
               Prop("location", "location", "json", required=True), _PROPERTIES),
              (Link("Things", "Things", "m2m", table="twin_sta_thing_locations",
                    ours="location_id", theirs="thing_id"),
               Link("HistoricalLocations", "HistoricalLocations", "m2m",
                    table="twin_sta_historical_location_locations", ours="location_id",
                    theirs="historical_location_id"))),
    EntitySet("HistoricalLocations", "HistoricalLocation", "twin_sta_historical_locations",
              (Prop("time", "time", "time", required=True),),
              (Link("Thing", "Things", "one", column="thing_id"),
               Link("Locations", "Locations", "m2m",
                    table="twin_sta_historical_location_locations",
                    ours="historical_location_id", theirs="location_id"))),
    EntitySet("Sensors", "Sensor", "twin_sta_sensors",
              (*_NAMED, Prop("encodingType", "encoding_type", required=True),
               Prop("metadata", "metadata", required=True), _PROPERTIES),
              (Link("Datastreams", "Datastreams", "many", column="sensor_id"),)),
    EntitySet("ObservedProperties", "ObservedProperty", "twin_sta_observed_properties",
              (*_NAMED, Prop("definition", "definition", required=True), _PROPERTIES),
              (Link("Datastreams", "Datastreams", "many", column="observed_property_id"),)),
    EntitySet("Datastreams", "Datastream", "twin_sta_datastreams",
              (*_NAMED, Prop("observationType", "observation_type", required=True),
               Prop("unitOfMeasurement", "unit", "json", required=True),
               Prop("phenomenonTime", "phenomenon", "interval"),
               Prop("resultTime", "result_time", "interval"), _PROPERTIES),
              (Link("Thing", "Things", "one", column="thing_id"),
               Link("Sensor", "Sensors", "one", column="sensor_id"),
               Link("ObservedProperty", "ObservedProperties", "one",
                    column="observed_property_id"),
               Link("Observations", "Observations", "many", column="datastream_id"))),
    EntitySet("FeaturesOfInterest", "FeatureOfInterest", "twin_sta_features_of_interest",
              (*_NAMED, Prop("encodingType", "encoding_type", required=True),
               Prop("feature", "feature", "json", required=True), _PROPERTIES),
              (Link("Observations", "Observations", "many", column="foi_id"),)),
    EntitySet("Observations", "Observation", "twin_sta_observations",
              (Prop("phenomenonTime", "phenomenon_time", "time", required=True),
               Prop("result", "result", "result", required=True),
               Prop("resultTime", "result_time", "time"),
               Prop("resultQuality", "result_quality", "json"),
               Prop("validTime", "valid", "interval"),
               Prop("parameters", "parameters", "json")),
              (Link("Datastream", "Datastreams", "one", column="datastream_id"),
               Link("FeatureOfInterest", "FeaturesOfInterest", "one", column="foi_id"))),
)}

#: entity name (``Thing``) -> entity set (``Things``)
BY_ENTITY = {e.entity: e for e in ENTITY_SETS.values()}

#: observation types of O&M the twin accepts for a Datastream
OBSERVATION_TYPES = {
    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation",
    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation",
    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation",
    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CategoryObservation",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: bucket widths of the aggregates, in milliseconds
INTERVALS = {"hour": 3_600_000, "day": 86_400_000}


def to_ms(value: str | datetime, *, what: str = "time") -> int:
    """An ISO 8601 time (with its offset; ``Z`` for UTC) as milliseconds
    since 1970 UTC. A time without an offset is refused: a meter's clock
    means nothing without its zone.

    >>> to_ms("2024-01-01T08:00:00+08:00")
    1704067200000
    """
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(f"{what} {value!r} is not an ISO 8601 time "
                             "(e.g. 2024-01-01T00:00:00Z)") from None
    if dt.tzinfo is None:
        raise QueryError(f"{what} {value!r} has no time zone: give its offset "
                         "(2024-01-01T00:00:00+08:00) or Z for UTC")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso(ms: int | None) -> str | None:
    """Milliseconds since 1970 UTC as ISO 8601 in UTC (``...Z``).

    >>> iso(1704067200000)
    '2024-01-01T00:00:00Z'
    """
    if ms is None:
        return None
    dt = _EPOCH + timedelta(milliseconds=int(ms))
    text = dt.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def interval(start: int | None, end: int | None) -> str | None:
    """A time interval as ISO 8601 ``start/end`` (an instant when equal)."""
    if start is None:
        return None
    if end is None or end == start:
        return iso(start)
    return f"{iso(start)}/{iso(end)}"


def parse_interval(value: str, *, what: str = "time") -> tuple[int, int | None]:
    """``start/end`` or an instant, as milliseconds (end ``None`` for an instant)."""
    text = str(value)
    if "/" in text:
        a, b = text.split("/", 1)
        start, end = to_ms(a, what=what), to_ms(b, what=what)
        if end < start:
            raise QueryError(f"{what} {value!r} ends before it starts")
        return start, end
    return to_ms(text, what=what), None

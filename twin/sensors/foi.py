"""FeaturesOfInterest made from a Thing's Location (SensorThings 1.1), for
Observations written without one: through the API (``twin_api.sta_write``)
and by the bulk import (``twin observations import``).

In the SensorThings data model every Observation has exactly one
FeatureOfInterest. A client may create an Observation without one; the
service then generates it from the Location of the Observation's
Datastream's Thing, and keeps using that FeatureOfInterest for later
Observations as long as the Location stays the same. A Thing that is moved
(another Location, or its Location's ``location`` changed) gets a new one
with its next Observation, so that the older Observations keep where they
were made.

Here: the Thing's Location with the lowest id; the FeatureOfInterest takes
its name, description, ``encodingType`` and ``location`` (as ``feature``),
and ``properties.twin_location_id`` names the Location it came from. It is
reused when a FeatureOfInterest made from the same Location has the same
``encodingType`` and ``feature``.
"""

from __future__ import annotations

import json
from typing import Any

from twin.errors import FeatureError

#: the member of a generated FeatureOfInterest's properties that names its Location
LOCATION_KEY = "twin_location_id"


def generated_foi(w: Any, datastream_id: int, cache: dict[int, int | None]) -> int:
    """The FeatureOfInterest for an Observation of ``datastream_id`` given
    without one (inside the writer ``w``'s transaction); ``cache`` keeps the
    answer per datastream for the rest of the request. Raises
    :class:`~twin.errors.FeatureError` when the Thing has no Location."""
    ident = foi_of_location(w, datastream_id, cache)
    if ident is None:
        thing = w.tx.execute("SELECT thing_id FROM twin_sta_datastreams WHERE id = ?",
                             (int(datastream_id),)).fetchone()
        raise FeatureError(f"an Observation of Datastream {datastream_id} needs a "
                           f"FeatureOfInterest: none was given and its Thing "
                           f"{thing[0] if thing else '?'} has no Location to make one from")
    return ident


def foi_of_location(w: Any, datastream_id: int, cache: dict[int, int | None]) -> int | None:
    """The FeatureOfInterest made from the Location of ``datastream_id``'s
    Thing (found, or made now inside ``w``'s transaction), or ``None`` when
    the Thing has no Location (or the Datastream does not exist)."""
    if datastream_id in cache:
        return cache[datastream_id]
    tx = w.tx
    row = tx.execute(
        "SELECT d.thing_id, l.id, l.name, l.description, l.encoding_type, l.location "
        "FROM twin_sta_datastreams d LEFT JOIN twin_sta_thing_locations tl "
        "ON tl.thing_id = d.thing_id LEFT JOIN twin_sta_locations l ON l.id = tl.location_id "
        "WHERE d.id = ? ORDER BY l.id LIMIT 1", (int(datastream_id),)).fetchone()
    if row is None or row[1] is None:
        cache[datastream_id] = None
        return None
    _, loc, name, description, encoding, location = row
    found = tx.execute(
        "SELECT id, properties FROM twin_sta_features_of_interest WHERE encoding_type = ? "
        "AND feature = ? ORDER BY id", (encoding, location)).fetchall()
    for ident, props in found:
        if (json.loads(props) if isinstance(props, str) else props or {}).get(
                LOCATION_KEY) == loc:
            cache[datastream_id] = int(ident)
            return int(ident)
    ident = w.insert("FeaturesOfInterest", {
        "name": name, "description": description, "encoding_type": encoding,
        "feature": json.loads(location) if isinstance(location, str) else location,
        "properties": {LOCATION_KEY: int(loc)}})
    cache[datastream_id] = ident
    return ident

"""The desktop viewer's readings mode (``twin view/snapshot --readings``):
off-screen (EGL) images of two times compared by their colours, the classes
against the readings, and the CLI's errors."""

from __future__ import annotations

import numpy as np
import pytest
from builders import small_city

import twin
from twin.sensors.model import to_ms
from twin.sensors.store import sensors_of
from viewer.desktop import snapshot
from viewer.readings import RAMP, readings_highlight

BEFORE = "2025-03-31T23:00:00+08:00"
AFTER = "2025-04-01T03:00:00+08:00"
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@pytest.fixture
def metered(tmp_path):
    """The small city with pressure loggers on its two valves: V1 steady at
    320 kPa, V2 at 318 kPa until 2025-04-01 (local), then 290 kPa (a leak)."""
    path = tmp_path / "city.gpkg"
    store = twin.create_twin(path, "EPSG:4546")
    with store.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    sensors = sensors_of(store)
    t = to_ms("2025-03-31T00:00:00+08:00") + np.arange(48 * 4, dtype=np.int64) * 900_000
    leak = t >= to_ms("2025-04-01T00:00:00+08:00")
    with sensors.writing() as w:
        se = w.insert("Sensors", {"name": "logger", "description": "l",
                                  "encoding_type": "text/html", "metadata": "x"})
        op = w.insert("ObservedProperties", {"name": "pressure", "description": "p",
                                             "definition": "urn:pressure"})
        for fid, v in (("test:V1", np.full(len(t), 320.0)),
                       ("test:V2", np.where(leak, 290.0, 318.0))):
            th = w.insert("Things", {"name": fid, "description": "logger", "feature_id": fid})
            ds = w.insert("Datastreams", {
                "name": fid, "description": "p", "observation_type": M,
                "unit": {"name": "kilopascal", "symbol": "kPa", "definition": "kPa"},
                "thing_id": th, "sensor_id": se, "observed_property_id": op})
            w.add_observations(ds, t, v)
    yield store, path
    store.close()


def _ramp_pixels(img):
    """Pixels near each ramp colour (the readings' spheres are lit: a tolerance;
    the ends of the ramp, red and blue, are far from the scene's own colours)."""
    out = {}
    for c in RAMP:
        rgb = np.array([int(c[k:k + 2], 16) for k in (1, 3, 5)])
        out[c] = int((np.abs(img[..., :3].astype(int) - rgb).max(axis=2) < 60).sum())
    return out


def test_the_classes_follow_the_readings_of_the_time(metered):
    store, _ = metered
    before = readings_highlight(store, "pressure", BEFORE).colour_of()
    after = readings_highlight(store, "pressure", AFTER).colour_of()
    # range 290..320 kPa in five classes of 6 kPa
    assert before == {"test:V1": RAMP[4], "test:V2": RAMP[4]}
    assert after == {"test:V1": RAMP[4], "test:V2": RAMP[0]}
    hl = readings_highlight(store, "pressure", AFTER)
    assert [g.label for g in hl.groups][0] == "314 kPa – 320 kPa"
    assert "pressure at 2025-03-31T19:00:00Z: 2 of 2 features read" == hl.title


def test_two_times_give_two_pictures_in_the_readings_colours(metered, tmp_path):
    store, _ = metered
    imgs = {}
    for name, at in (("before", BEFORE), ("after", AFTER)):
        imgs[name] = snapshot(store, tmp_path / f"{name}.png", view="top", size=(480, 360),
                              highlight=readings_highlight(store, "pressure", at))
    b, a = _ramp_pixels(imgs["before"]), _ramp_pixels(imgs["after"])
    # before: both valves high (red); after: V2 low (blue) beside V1 still red
    assert b[RAMP[4]] > 25 and b[RAMP[0]] == 0
    assert a[RAMP[0]] > 15 and 10 < a[RAMP[4]] < b[RAMP[4]]


def test_snapshot_cli_takes_readings_and_names_bad_input(metered, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from twin_cli.main import cli

    _, path = metered
    out = tmp_path / "r.png"
    runner = CliRunner()
    res = runner.invoke(cli, ["snapshot", str(path), "--out", str(out), "--size", "320x240",
                              "--readings", "pressure", "--at", AFTER])
    assert res.exit_code == 0, res.output
    assert "pressure at 2025-03-31T19:00:00Z" in res.output
    with Image.open(out) as im:
        assert im.size == (320, 240)
    for args, words in ((["--readings", "temperature"], "'temperature'"),
                        (["--readings", "pressure", "--at", "2025-04-01"], "no time zone"),
                        (["--at", AFTER], "--readings PROPERTY"),
                        (["--readings", "pressure", "--highlight", "clearance"], "one of them")):
        res = runner.invoke(cli, ["snapshot", str(path), "--out", str(out), *args])
        assert res.exit_code != 0 and words in res.output, res.output

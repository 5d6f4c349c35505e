"""The Hohhot demo district: plausible, georeferenced, connected."""

import numpy as np
import pytest

import twin
from twin.network import network_graph, validate_network


@pytest.fixture(scope="module")
def demo(demo_twin):
    store = twin.open_twin(demo_twin, readonly=True)
    yield store
    store.close()


def test_district_sits_in_hohhot(demo):
    from pyproj import Transformer

    b = demo.info().bounds
    lon, lat = Transformer.from_crs("EPSG:4546", "EPSG:4326", always_xy=True).transform(
        (b[0] + b[3]) / 2, (b[1] + b[4]) / 2)
    assert lon == pytest.approx(111.70, abs=0.01) and lat == pytest.approx(40.82, abs=0.01)
    assert 1000 < b[2] < 1060  # ground about 1,050 m above the 1985 datum; pipes below


def test_buildings_have_policy_attributes(demo):
    blds = list(demo.query(twin.Query(layers=("buildings",))))
    assert len(blds) >= 200
    storeys = np.array([b.attributes["storeys"] for b in blds])
    assert (storeys > 18).sum() > 10 and (storeys <= 6).sum() > 10
    for key in ("year_built", "green_star", "prefabricated", "energy_retrofit"):
        assert all(key in b.attributes for b in blds)
    assert {"school", "clinic"} <= {b.attributes["function"] for b in blds}


def test_every_network_is_connected_and_clean(demo):
    from twin.network import networks

    assert networks(demo) == ["DL", "JS", "RL", "RQ", "TX", "WS", "YS"]
    for net in ("JS", "RL", "WS"):
        rep = validate_network(network_graph(demo, net))
        assert rep.components == 1 and rep.ok and not rep.dangling_ends, rep.problems


def test_heating_pipes_span_1985_to_2024_and_lie_underground(demo):
    pipes = list(demo.query(twin.Query(layers=("heating",), types=("PipeSegment",))))
    years = [p.attributes["install_year"] for p in pipes]
    assert min(years) >= 1985 and max(years) <= 2024
    assert any(y <= 2004 for y in years)  # some in service for 20 years or more
    ground = list(demo.query(twin.Query(layers=("terrain",))))
    zmin_ground = min(t.bbox[2] for t in ground)
    assert all(p.bbox[5] < zmin_ground + 20 for p in pipes)
    # the pipes lie below the terrain right above them
    p = pipes[0]
    x, y = p.footprint.interpolate(0.5, normalized=True).coords[0][:2]
    tile = next(demo.query(twin.Query(layers=("terrain",), bbox=(x, y, x, y))))
    assert p.bbox[5] < tile.bbox[5]


def test_service_connections_reach_every_building(demo):
    blds = {b.id for b in demo.query(twin.Query(layers=("buildings",)))}
    services = list(demo.query(twin.Query(layers=("water_supply",), types=("ServicePipe",))))
    served = {s.attributes["serves"] for s in services}
    assert served == blds

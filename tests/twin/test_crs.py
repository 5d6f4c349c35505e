import numpy as np
import pytest

import twin
from twin.crs import parse_crs, require_projected_metric, transform_xyz


@pytest.mark.parametrize("form", [
    "EPSG:4546", 4546, "urn:ogc:def:crs:EPSG::4546",
    "http://www.opengis.net/def/crs/EPSG/0/4546",
    "https://www.opengis.net/def/crs/EPSG/0/4546",
])
def test_crs_forms_are_understood(form):
    assert parse_crs(form).to_epsg() == 4546


def test_compound_crs_keeps_horizontal_part_and_vertical_label(tmp_path):
    store = twin.create_twin(tmp_path / "c.gpkg", "EPSG:4546+5737")  # CGCS2000 GK + Yellow Sea 1985
    assert store.crs.to_epsg() == 4546
    assert "1985" in store.vertical_datum
    store.close()


def test_geographic_twin_crs_is_refused_with_clear_message(tmp_path):
    with pytest.raises(twin.CRSError, match="geographic.*projected, metric"):
        twin.create_twin(tmp_path / "g.gpkg", "EPSG:4490")  # CGCS2000 geographic
    assert not (tmp_path / "g.gpkg").exists()


def test_feet_crs_is_refused():
    with pytest.raises(twin.CRSError, match="metres"):
        require_projected_metric(parse_crs("EPSG:2263"))  # NY Long Island, US feet


def test_unknown_crs_names_the_value():
    with pytest.raises(twin.CRSError, match="EPSG:999999"):
        parse_crs("EPSG:999999")


def test_central_meridian_maps_to_false_easting():
    # on the central meridian 111E of EPSG:4546 the easting is the false easting
    out = transform_xyz(parse_crs("OGC:CRS84"), parse_crs("EPSG:4546"),
                        np.array([[111.0, 40.0, 1050.0], [111.0, 0.0, 0.0]]))
    assert out[0, 0] == pytest.approx(500000.0, abs=1e-6)
    assert out[1, 1] == pytest.approx(0.0, abs=1e-6)
    assert out[0, 2] == 1050.0  # heights pass through
    assert 4.4e6 < out[0, 1] < 4.5e6


def test_failed_transformation_raises_and_names_source():
    with pytest.raises(twin.CRSError, match="roads.geojson"):
        transform_xyz(parse_crs("OGC:CRS84"), parse_crs("EPSG:4546"),
                      np.array([[111.0, 95.0]]), source="roads.geojson")

import numpy as np
import pytest
from shapely.geometry import Point, box

import twin
from twin.geometry import box_mesh


def test_mesh_rejects_out_of_range_indices():
    with pytest.raises(twin.GeometryError, match="out of range"):
        twin.Mesh(np.zeros((3, 3)), np.array([[0, 1, 3]]))


def test_mesh_rejects_nan():
    v = np.zeros((3, 3))
    v[1, 1] = np.nan
    with pytest.raises(twin.GeometryError, match="NaN"):
        twin.Mesh(v, np.array([[0, 1, 2]]))


def test_mesh_arrays_are_read_only():
    m = box_mesh([0, 0, 0], [1, 2, 3])
    with pytest.raises(ValueError):
        m.vertices[0, 0] = 5.0
    assert m.bounds == (0.0, 0.0, 0.0, 1.0, 2.0, 3.0)


def test_feature_is_immutable():
    f = twin.Feature(id="x:1", layer="buildings", type="Building", footprint=box(0, 0, 1, 1),
                     attributes={"a": 1})
    with pytest.raises(AttributeError):
        f.layer = "roads"  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.attributes["a"] = 2  # type: ignore[index]


def test_default_lod_is_the_highest():
    meshes = {"1": box_mesh([0, 0, 0], [1, 1, 1]), "2.2": box_mesh([0, 0, 0], [1, 1, 2]),
              "1.3": box_mesh([0, 0, 0], [1, 1, 1.5])}
    f = twin.Feature(id="x:1", layer="buildings", type="Building", meshes=meshes)
    assert f.lod == "2.2"
    assert f.bbox == (0.0, 0.0, 0.0, 1.0, 1.0, 2.0)


def test_bounds_from_3d_point():
    f = twin.Feature(id="x:n", layer="pipe_nodes", type="Manhole", footprint=Point(5, 6, -2))
    assert f.bbox == (5.0, 6.0, -2.0, 5.0, 6.0, -2.0)


@pytest.mark.parametrize("bad_id", ["", "   ", "x" * 300])
def test_bad_ids_are_refused(bad_id):
    with pytest.raises(twin.FeatureError, match="id"):
        twin.Feature(id=bad_id, layer="buildings", type="Building")


def test_user_layer_names_are_validated():
    with pytest.raises(twin.LayerError, match="invalid"):
        twin.Layer(name="gpkg_contents", title="x", group="surface", colour="#000000")
    with pytest.raises(twin.LayerError, match="group"):
        twin.Layer(name="trees", title="x", group="sky", colour="#000000")


def test_utility_codes_map_to_layers():
    assert twin.layer_for_utility_code("rl") == "heating"
    assert twin.layer_for_utility_code("YS") == "rainwater"
    with pytest.raises(twin.LayerError, match="JS"):
        twin.layer_for_utility_code("XX")


def test_standard_utility_colours_follow_national_convention():
    by_code = {la.code: la.rgb for la in twin.STANDARD_LAYERS if la.code}
    r, g, b = by_code["JS"]
    assert b > r and b > g  # water blue
    r, g, b = by_code["RL"]
    assert r == 255 and 100 < g < 200 and b == 0  # heating orange
    r, g, b = by_code["DL"]
    assert r > 200 and g < 50 and b < 50  # power red
    r, g, b = by_code["TX"]
    assert g > r and g > b  # telecom green
    assert by_code["GY"] == (0, 0, 0)  # industrial black
    r, g, b = by_code["RQ"]
    assert r > 200 and b > 200 and g < 80  # gas magenta

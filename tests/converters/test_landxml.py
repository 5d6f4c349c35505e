"""LandXML / Inframodel pipe networks: inverts, structures, safety."""

import re
from pathlib import Path

import pytest
from builders import dump_twin

import twin
from converters import import_file
from twin.network import network_graph, validate_network

SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "landxml" / \
    "DrainageSystem-1-1.xml"


@pytest.fixture
def storm(tmp_path):
    store = twin.create_twin(tmp_path / "fi.gpkg", "EPSG:3878")
    res = import_file(store, SAMPLE)
    yield store, res
    store.close()


def test_counts_and_crs_from_the_file(storm):
    store, res = storm
    text = SAMPLE.read_text(encoding="iso-8859-1")
    assert res.report["by_type"] == {"Manhole": len(re.findall(r"<Struct ", text)),
                                     "PipeSegment": len(re.findall(r"<Pipe ", text))}
    assert res.report["by_type"] == {"Manhole": 7, "PipeSegment": 6}
    assert res.report["source"]["crs_from"] == "CoordinateSystem/@epsgCode"


def test_pipe_ends_sit_on_their_inverts(storm):
    store, _ = storm
    text = SAMPLE.read_text(encoding="iso-8859-1")
    # pipe 8 runs from structure 10 (invert out 124.984735) to 51 (invert in 124.927521)
    assert 'refStart="10" refEnd="51"' in text
    pipe = store.get("landxml:DrainageSystem-1-1:pipe:8")
    (x0, y0, z0), (x1, y1, z1) = pipe.footprint.coords
    assert (x0, y0) == pytest.approx((24525622.894716, 6876920.244796))  # northing easting
    assert z0 == pytest.approx(124.984735 + 0.2) and z1 == pytest.approx(124.927521 + 0.2)
    assert pipe.attributes["diameter_mm"] == 400 and pipe.attributes["material"] == "betoni"
    assert pipe.layer == "rainwater"  # pipeNetType="storm"
    mh = store.get("landxml:DrainageSystem-1-1:10")
    assert (mh.bbox[2], mh.bbox[5]) == pytest.approx((124.984735, 126.944735))
    assert mh.attributes["depth_m"] == pytest.approx(1.96)


def test_storm_network_is_connected_and_falls(storm):
    store, _ = storm
    (net,) = {e[1] for e in store.edges()}
    rep = validate_network(network_graph(store, net))
    assert rep.components == 1 and rep.ok and not rep.against_slope


def test_entity_expansion_is_refused(empty_twin, tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                    '<LandXML><PipeNetworks>&b;</PipeNetworks></LandXML>')
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.ImportFailedError, match="bomb.xml.*unsafe XML"):
        import_file(empty_twin, bomb, crs="EPSG:4546")
    assert dump_twin(empty_twin.path) == before


def test_broken_and_incomplete_files(empty_twin, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<LandXML><PipeNetworks><PipeNetwork>")
    with pytest.raises(twin.ImportFailedError, match="broken.xml.*not well-formed"):
        import_file(empty_twin, broken, crs="EPSG:4546")
    partial = tmp_path / "partial.xml"
    partial.write_text(
        '<LandXML><PipeNetworks><PipeNetwork pipeNetType="sanitary"><Structs>'
        '<Struct name="A" elevRim="10" elevSump="7"><Center>100 200</Center>'
        '<Invert elev="7.2" flowDir="out" refPipe="P1"/></Struct></Structs><Pipes>'
        '<Pipe name="P1" refStart="A" refEnd="Z"><CircPipe diameter="0.3"/></Pipe>'
        '</Pipes></PipeNetwork></PipeNetworks></LandXML>')
    res = import_file(empty_twin, partial, crs="EPSG:4546", force=True)  # local coordinates: forced
    assert res.features == 1 and res.skipped == 1
    assert "structure 'Z' not found" in res.report["skipped"][0]["reason"]
    a = empty_twin.get("landxml:partial:A")
    assert a.footprint.coords[0] == (200.0, 100.0, 10.0)


CHANNELS = SAMPLE.parent / "UT_DrainageSystem_2_1.xml"


def test_open_channels_get_their_section_and_a_trough_mesh(tmp_path):
    """bSI's culvert-and-ditches sample: 9 ditches (Channel 0.6 m wide at the
    top, 0.3 m deep, V-shaped) and one PVC culvert."""
    text = CHANNELS.read_text(encoding="iso-8859-1")
    with twin.create_twin(tmp_path / "ditch.gpkg", "EPSG:3878") as store:
        res = import_file(store, CHANNELS)
        assert res.report["by_type"] == {"Channel": text.count("<Channel "),
                                         "PipeSegment": text.count("<CircPipe "),
                                         "Manhole": text.count("<Struct ")}
        assert res.report["by_type"]["Channel"] == 9 and res.skipped == 0
        ditch = store.get("landxml:UT_DrainageSystem_2_1:pipe:8")  # 40 -> 10
        assert ditch.attributes["width_mm"] == 600 and ditch.attributes["height_mm"] == 300
        assert ditch.attributes["bottom_width_mm"] == 0
        mesh = ditch.meshes["1"]
        # the trough's bottom lies on the lower invert, its rim 0.3 m above the higher one
        assert mesh.bounds[2] == pytest.approx(125.29, abs=1e-6)
        assert mesh.bounds[5] == pytest.approx(125.338 + 0.3, abs=1e-6)
        # open at the top: the V profile's two sides only, two triangles per side
        assert mesh.n_faces == 2 * 2
        assert any("9 open channels" in n.text for n in res.notes)


def test_channel_without_sizes_is_reported(empty_twin, tmp_path):
    doc = tmp_path / "ditch.xml"
    doc.write_text(
        '<LandXML><PipeNetworks><PipeNetwork pipeNetType="storm"><Structs>'
        '<Struct name="A" elevRim="10" elevSump="9"><Center>100 200</Center></Struct>'
        '<Struct name="B" elevRim="10" elevSump="8.9"><Center>100 230</Center></Struct>'
        '</Structs><Pipes><Pipe name="D" refStart="A" refEnd="B"><Channel desc="oja"/></Pipe>'
        '</Pipes></PipeNetwork></PipeNetworks></LandXML>')
    res = import_file(empty_twin, doc, crs="EPSG:4546", force=True)  # local coordinates
    d = empty_twin.get("landxml:ditch:pipe:D")
    assert d.type == "Channel" and not d.meshes
    assert d.attributes["section_missing"] == "Channel needs widthTop and height"
    assert res.report["source"]["channels_without_section"] == 1
    assert any("1 without widthTop/height" in n.text and n.level == "warn" for n in res.notes)

"""SWMM models through swmmio: inverts, offsets, units, CRS from the title."""

from pathlib import Path

import pytest
from builders import section

import twin
from converters import converter_for, import_file
from twin.network import network_graph, validate_network

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models" / "swmm"
EX1 = SAMPLES / "Example1.inp"
STATE = SAMPLES / "model_state_plane.inp"


def test_registry_tells_swmm_from_epanet():
    assert converter_for(EX1).name == "swmm"
    assert converter_for(SAMPLES.parent / "epanet" / "Net3.inp").name == "epanet"


def test_example1_counts_inverts_and_units(tmp_path):
    # Example1 is drawn in local feet near 0,0: read in a Missouri twin (in
    # EPSG:4546 it would be no place on Earth) and forced past the placement check
    empty_twin = twin.create_twin(tmp_path / "mo.gpkg", "EPSG:2817")
    res = import_file(empty_twin, EX1, crs="EPSG:2817", force=True)
    assert res.skipped == 0
    assert res.report["by_type"]["PipeSegment"] == len(section(EX1, "CONDUITS")) == 13
    assert res.report["by_type"]["Manhole"] == len(section(EX1, "JUNCTIONS"))
    assert res.report["source"]["units"] == "feet"  # FLOW_UNITS CFS
    junctions = {r[0]: (float(r[1]), float(r[2])) for r in section(EX1, "JUNCTIONS")}
    outfalls = {r[0]: float(r[1]) for r in section(EX1, "OUTFALLS")}
    inverts = {**{k: v[0] for k, v in junctions.items()}, **outfalls}
    xsec = {r[0]: float(r[2]) for r in section(EX1, "XSECTIONS")}
    c = section(EX1, "CONDUITS")[0]  # name from to length roughness inoffset outoffset
    pipe = empty_twin.get(f"swmm:Example1:link:{c[0]}")
    z0, z1 = pipe.footprint.coords[0][2], pipe.footprint.coords[-1][2]
    ft = 0.3048
    assert z0 == pytest.approx((inverts[c[1]] + float(c[5]) + xsec[c[0]] / 2) * ft)
    assert z1 == pytest.approx((inverts[c[2]] + float(c[6]) + xsec[c[0]] / 2) * ft)
    assert pipe.attributes["diameter_mm"] == pytest.approx(xsec[c[0]] * ft * 1000)
    assert pipe.attributes["length_m"] == pytest.approx(float(c[3]) * ft)
    name, (inv, maxd) = next(iter(junctions.items()))
    mh = empty_twin.get(f"swmm:Example1:node:{name}")
    if maxd > 0:
        assert mh.footprint.coords[0][2] == pytest.approx((inv + maxd) * ft)
    rep = validate_network(network_graph(empty_twin, "PS:Example1"))
    assert rep.components == 1 and rep.ok and not rep.against_slope
    empty_twin.close()


def test_crs_from_title_and_real_findings(empty_twin, tmp_path):
    store = twin.create_twin(tmp_path / "mo.gpkg", "EPSG:2817")
    # no --crs: the [TITLE] names EPSG:2817 (Missouri West), which puts the model in
    # New Hampshire, 1,900 km outside Missouri: the placement check refuses it
    with pytest.raises(twin.ImportFailedError, match="outside the area of use of EPSG:2817"):
        import_file(store, STATE)
    res = import_file(store, STATE, force=True)
    assert res.report["source"]["crs_from"] == "[TITLE]"
    assert res.report["by_type"]["Storage"] == len(section(STATE, "STORAGE")) == 13
    rep = validate_network(network_graph(store, "PS:model_state_plane"))
    assert rep.components == 1
    deep = [store.get(i) for i in rep.too_deep]
    assert deep  # the model has conduits more than 10 m below their rims
    store.close()


def test_swmm_without_crs_is_a_clear_error(empty_twin):
    with pytest.raises(twin.ImportFailedError, match="carry no CRS; give it with --crs"):
        import_file(empty_twin, EX1)


def _damage(path, section_name, text):
    """A copy of ``path`` whose first item line of ``section_name`` is ``text``;
    returns the text and the 1-based line number."""
    lines = path.read_text(encoding="latin-1").splitlines()
    head = next(k for k, line in enumerate(lines) if line.strip().upper() == f"[{section_name}]")
    k = head + 1
    while lines[k].startswith(";") or not lines[k].strip():
        k += 1
    old = lines[k].split()[0]
    lines[k] = text.format(old=old)
    return "\n".join(lines) + "\n", k + 1, old


@pytest.fixture
def mo_twin(tmp_path):
    """A twin in the CRS Example1's coordinates are given in here (Missouri West,
    feet); they are local numbers all the same, so imports are forced."""
    with twin.create_twin(tmp_path / "mo.gpkg", "EPSG:2817") as store:
        yield store


@pytest.mark.parametrize("section_name, text, lost", [
    ("CONDUITS", '"', "conduit"),          # an unbalanced quote: once all conduits were lost
    ("OPTIONS", "a b c d e f g h", None),  # once 0 features and 0 skipped, exit 0
    ("COORDINATES", "{old} abc 1.0", "node"),  # the engine does not read map sections
    ("JUNCTIONS", "{old} nan 3 0 0 0", "node"),
])
def test_a_damaged_line_is_named_and_the_rest_imported(mo_twin, tmp_path, section_name,
                                                       text, lost):
    damaged, line, old = _damage(EX1, section_name, text)
    inp = tmp_path / "Example1.inp"
    inp.write_text(damaged, encoding="latin-1")
    res = import_file(mo_twin, inp, crs="EPSG:2817", force=True)
    dmg = res.report["source"]["damaged_lines"]
    assert [(d["section"], d["line"]) for d in dmg][:1] == [(section_name, line)]
    conduits, nodes = len(section(EX1, "CONDUITS")), len(section(EX1, "JUNCTIONS")) + 1
    by_type = res.report["by_type"]
    if lost == "conduit":
        assert by_type["PipeSegment"] == conduits - 1
        with pytest.raises(twin.NotFoundError):
            mo_twin.get(f"swmm:Example1:link:{old}")
    elif lost == "node":  # the node of the damaged line and the conduits that need it
        assert by_type["Manhole"] + by_type["Outfall"] == nodes - 1
        needs = {r[0] for r in section(EX1, "CONDUITS") if old in r[1:3]}
        assert by_type["PipeSegment"] == conduits - len(needs)
        engine = {d["text"].split()[0] for d in dmg[1:]}  # the engine names some itself
        assert needs - engine <= {s["source_id"] for s in res.report["skipped"]}
    else:
        assert by_type["PipeSegment"] == conduits
    assert any(f"[{section_name}] line {line}:" in n.text for n in res.notes)
    with pytest.raises(twin.ImportFailedError, match=rf"\[{section_name}\] line {line}"):
        import_file(mo_twin, inp, crs="EPSG:2817", strict=True, on_conflict="replace",
                    force=True)


def test_no_readable_node_is_an_error_not_an_empty_import(mo_twin, tmp_path):
    text = EX1.read_text(encoding="latin-1")
    head, _, rest = text.partition("[COORDINATES]")
    body, _, tail = rest.partition("[VERTICES]")
    broken = tmp_path / "nocoords.inp"
    broken.write_text(head + "[COORDINATES]\n" + "\n".join(
        ";" + line for line in body.splitlines()) + "\n[VERTICES]" + tail, encoding="latin-1")
    with pytest.raises(twin.ImportFailedError, match="no node of the model could be read"):
        import_file(mo_twin, broken, crs="EPSG:2817", force=True)

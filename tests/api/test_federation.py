"""A region's twin over its members' twins, all real servers on 127.0.0.1:
federated search, indicator roll-up, the region scene, members that are
down, private or older (:mod:`twin_api.federation`)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
import shapely
from api_helpers import TOKEN
from click.testing import CliRunner
from conftest import served
from federation_helpers import (
    EVERYWHERE,
    county_twin,
    members_toml,
    older_release,
    region_twin,
    serve_release,
    token_file,
    twin_of_release,
)

import twin
from twin.analysis.rollup import combine
from twin_api.app import create_app
from twin_api.federation.client import MemberClient
from twin_api.federation.config import Member
from twin_api.settings import ApiSettings
from twin_cli.main import cli


@dataclass
class Levels:
    region: str  # the region's server
    urls: dict[str, str]  # member name -> its server
    twins: dict[str, Path]  # twin name (region's own included) -> its file
    members: Path
    directory: Path


@pytest.fixture(scope="module")
def levels(tmp_path_factory, demo_gpkg):
    d = tmp_path_factory.mktemp("federation")
    region = region_twin(d / "region.gpkg")
    county, tiles = county_twin(d)
    old_code = older_release(d / "older")
    with ExitStack() as stack:
        city_url = stack.enter_context(served(create_app(ApiSettings(str(demo_gpkg)))))
        county_url = stack.enter_context(served(create_app(ApiSettings(
            str(county), read_token=TOKEN, tiles_dir=str(tiles)))))
        old_twin = twin_of_release(old_code, d / "county_src" / "county_town.geojson",
                                   d / "older_county.gpkg")
        old_url = stack.enter_context(serve_release(old_code, old_twin))
        members = members_toml(d / "members.toml", [
            {"name": "hohhot", "level": "city", "code": "150100", "url": city_url,
             "timeout_s": 60},  # a machine shared by many test runs can be slow
            {"name": "tumed-left", "level": "county", "code": "150121", "url": county_url,
             "token_file": str(token_file(d)), "timeout_s": 60},
            {"name": "old-banner", "level": "county", "code": "150122", "url": old_url,
             "timeout_s": 60},
        ])
        region_url = stack.enter_context(served(create_app(ApiSettings(
            str(region), members_file=str(members)))))
        # the health check of the demo district takes a while on a loaded machine:
        # made once here, each member keeps it for its twin's revision
        for url, headers in ((city_url, {}), (county_url, _auth("tumed-left")),
                             (region_url, {})):
            httpx.get(f"{url}/indicators", params={"year": 2025}, headers=headers,
                      timeout=600).raise_for_status()
        yield Levels(region_url, {"hohhot": city_url, "tumed-left": county_url,
                                  "old-banner": old_url},
                     {"nei-mongol": region, "hohhot": demo_gpkg, "tumed-left": county,
                      "old-banner": county}, members, d)


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"} if name == "tumed-left" else {}


def _own_answer(url: str, name: str, layer: str, **params) -> list[dict]:
    """What a twin answers for itself, every page."""
    feats, offset = [], 0
    while True:
        r = httpx.get(f"{url}/collections/{layer}/items", headers=_auth(name), timeout=60,
                      params={"bbox": EVERYWHERE, "limit": 1000, "offset": offset, **params})
        r.raise_for_status()
        page = r.json()["features"]
        feats += page
        offset += len(page)
        if len(page) < 1000:
            return feats


def _federated(region: str, **params) -> tuple[list[dict], list[dict]]:
    """Every page of a federated search: the features and each page's document."""
    url, query = f"{region}/federation/search", params
    feats, pages = [], []
    while url:
        doc = httpx.get(url, params=query, timeout=120).json()
        pages.append(doc)
        feats += doc["features"]
        nxt = [x["href"] for x in doc["links"] if x["rel"] == "next"]
        url, query = (nxt[0], None) if nxt else (None, None)
    return feats, pages


def test_federated_search_is_the_union_of_the_members_answers(levels):
    layers = ["buildings", "heating"]
    feats, pages = _federated(levels.region, layer=layers, bbox=EVERYWHERE, limit=97)
    urls = {"nei-mongol": levels.region, **levels.urls}
    expected = {}
    for name, url in urls.items():
        for layer in layers:
            for f in _own_answer(url, name, layer):
                expected[name, f["id"]] = f
    assert not [p["failures"] for p in pages if p["partial"]]
    got = {(f["member"], f["id"]): f for f in feats}
    assert len(got) == len(feats)  # no feature twice across pages
    assert got.keys() == expected.keys()
    for key, f in got.items():  # as each member wrote it, tagged with the member
        assert {k: v for k, v in f.items() if k != "member"} == expected[key]
    assert {m for m, _ in got} == set(urls)
    assert pages[0]["numberMatched"] == len(feats) and not any(p["partial"] for p in pages)
    # the cursor is stable: page two asked again is the same page
    second = [x["href"] for x in pages[0]["links"] if x["rel"] == "next"][0]
    again = httpx.get(second, timeout=60).json()
    assert [f["id"] for f in again["features"]] == [f["id"] for f in pages[1]["features"]]


def test_typed_filter_leaves_out_the_older_member_and_says_so(levels):
    feats, pages = _federated(levels.region, layer="buildings", bbox=EVERYWHERE,
                              where="storeys>10", limit=1000)
    assert pages[0]["partial"] is True
    [fail] = pages[0]["failures"]
    assert fail["member"] == "old-banner" and fail["reason"] == "unsupported"
    assert "older" in fail["detail"]
    expected = {(n, f["id"]) for n, u in [("nei-mongol", levels.region),
                                            ("hohhot", levels.urls["hohhot"]),
                                            ("tumed-left", levels.urls["tumed-left"])]
                for f in _own_answer(u, n, "buildings", where="storeys>10")}
    assert {(f["member"], f["id"]) for f in feats} == expected
    assert all(f["properties"]["storeys"] > 10 for f in feats) and len(feats) > 5


def _raw(path: Path) -> dict[str, float]:
    """Heating length and old heating length (km, 2025), residential buildings
    above 18 storeys: straight from a twin's features."""
    with twin.open_twin(path, readonly=True) as s:
        heat = list(s.query(twin.Query(layers=("heating",))))
        blds = list(s.query(twin.Query(layers=("buildings",))))
    km = [float(shapely.length(f.footprint)) / 1000 for f in heat]
    old = [k for k, f in zip(km, heat, strict=True)
           if 2025 - f.attributes.get("install_year", 2025) >= 20]
    high = [b for b in blds if "residential" in str(b.attributes.get("function"))
            and (b.attributes.get("storeys") or 0) > 18]
    return {"km": sum(km), "old_km": sum(old), "high": len(high)}


def test_rollup_totals_the_members_raw_data(levels):
    doc = httpx.get(f"{levels.region}/federation/indicators", params={"year": 2025},
                    timeout=300).json()
    summed = ["nei-mongol", "hohhot", "tumed-left"]
    raw = [_raw(levels.twins[n]) for n in summed]
    ind = {i["key"]: i for i in doc["indicators"]}
    heat = ind["heating_renewal"]
    assert heat["coverage"] == "3 of 4 twins summed", doc["failures"]
    assert [s["member"] for s in heat["sources"] if s["summed"]] == summed
    km, old = sum(r["km"] for r in raw), sum(r["old_km"] for r in raw)
    assert heat["denominator"] == pytest.approx(km, rel=0.01)  # pipes follow the terrain
    assert heat["numerator"] == pytest.approx(old, rel=0.01)
    assert heat["value"] == pytest.approx(100 * old / km, rel=0.01)
    assert heat["value"] == combine("share", heat["numerator"], heat["denominator"])
    high = ind["residential_over_18_storeys"]
    assert high["value"] == sum(r["high"] for r in raw) > 0
    # the older member is shown with its own values, not summed, and said so
    old_row = next(s for s in heat["sources"] if s["member"] == "old-banner")
    assert old_row["summed"] is False and "older" in old_row["why"]
    assert old_row["value"] is not None
    assert doc["partial"] is True
    assert {f["member"]: f["reason"] for f in doc["failures"]} == {"old-banner": "unsupported"}
    members = {m["member"]: m for m in doc["members"]}
    assert members["hohhot"]["report"] == f"{levels.urls['hohhot']}/indicators?year=2025"
    assert members["hohhot"]["coverage"].endswith("indicators summed")
    mine = httpx.get(members["hohhot"]["report"], timeout=300).json()  # the drill-down
    assert {i["key"] for i in mine["indicators"]} == set(ind)


def test_a_private_member_needs_its_token(levels, tmp_path):
    county = levels.urls["tumed-left"]
    r = httpx.get(f"{county}/collections", timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{county}/health", timeout=30).status_code == 200
    ok = httpx.get(f"{county}/collections", headers=_auth("tumed-left"), timeout=30)
    assert ok.status_code == 200
    # the read token enables no imports: the county serves them to nobody
    up = httpx.post(f"{county}/twin/imports", headers=_auth("tumed-left"), timeout=30,
                    files={"file": ("x.geojson", b"{}")})
    assert up.status_code == 403, up.text
    wrong = members_toml(tmp_path / "wrong.toml", [
        {"name": "tumed-left", "level": "county", "url": county,
         "token_file": str(token_file(tmp_path, "not-the-token-0123456789"))},
        {"name": "none", "level": "county", "url": levels.urls["hohhot"], "timeout_s": 60}])
    with served(create_app(ApiSettings(str(levels.twins["nei-mongol"]),
                                       members_file=str(wrong)))) as region:
        doc = httpx.get(f"{region}/federation/search", timeout=60,
                        params={"layer": "buildings", "bbox": EVERYWHERE}).json()
    assert doc["partial"] is True
    assert doc["failures"] == [{"member": "tumed-left", "reason": "unauthorized",
                                "detail": "HTTP 401 from /: the token was refused"}]
    assert {f["member"] for f in doc["features"]} == {"nei-mongol", "none"}


def test_a_member_stopped_mid_test_gives_a_marked_partial_answer(levels, tmp_path):
    member_server = served(create_app(ApiSettings(str(levels.twins["nei-mongol"]))))
    member = member_server.__enter__()
    running = True
    try:
        members = members_toml(tmp_path / "m.toml", [
            {"name": "hohhot", "level": "city", "url": levels.urls["hohhot"], "timeout_s": 60},
            {"name": "going", "level": "county", "url": member, "timeout_s": 60}])
        with served(create_app(ApiSettings(str(levels.twins["nei-mongol"]),
                                           members_file=str(members)))) as region:
            q = {"layer": "buildings", "bbox": EVERYWHERE, "limit": 1000}
            before = httpx.get(f"{region}/federation/search", params=q, timeout=60).json()
            assert not before["partial"]
            assert "going" in {f["member"] for f in before["features"]}
            member_server.__exit__(None, None, None)  # the member stops; the region goes on
            running = False
            after = httpx.get(f"{region}/federation/search", params=q, timeout=60)
            rolled = httpx.get(f"{region}/federation/indicators", params={"year": 2025},
                               timeout=300)
    finally:
        if running:
            member_server.__exit__(None, None, None)
    assert after.status_code == 200 and rolled.status_code == 200
    doc = after.json()
    assert doc["partial"] is True
    [fail] = doc["failures"]
    assert fail["member"] == "going" and fail["reason"] == "down"
    assert {f["member"] for f in doc["features"]} == {"nei-mongol", "hohhot"}
    assert "numberMatched" not in doc  # no total that hides the gap
    going = next(m for m in rolled.json()["members"] if m["member"] == "going")
    assert going["status"] == "failed" and going["reason"] == "down"


def test_answers_are_revalidated_not_fetched_again(levels):
    client = MemberClient(Member("hohhot", "city", levels.urls["hohhot"]))
    try:
        q = {"bbox": EVERYWHERE, "limit": 50}
        first = client.get_json("/collections/buildings/items", q)
        again = client.get_json("/collections/buildings/items", q)
        assert again == first and client.fetched == 1 and client.revalidated == 1
    finally:
        client.close()
    r = httpx.get(f"{levels.urls['hohhot']}/collections/buildings/items", params=q, timeout=60)
    tag = r.headers["etag"]
    r304 = httpx.get(f"{levels.urls['hohhot']}/collections/buildings/items", params=q,
                     headers={"If-None-Match": tag}, timeout=60)
    assert r304.status_code == 304 and r304.content == b"" and r304.headers["etag"] == tag


def test_region_scene_holds_the_members_tiles_as_external_tilesets(levels):
    doc = httpx.get(f"{levels.region}/federation/tileset.json", timeout=60).json()
    [child] = doc["root"]["children"]  # only the county serves 3D Tiles
    assert child["content"]["uri"] == "members/tumed-left/tiles/tileset.json"
    extras = doc["asset"]["extras"]
    assert extras["partial"] is True
    assert {f["member"]: f["reason"] for f in extras["failures"]} == {
        "hohhot": "unsupported", "old-banner": "unsupported"}
    region = doc["root"]["boundingVolume"]["region"]
    assert region == child["boundingVolume"]["region"]
    # the member's tileset and its content, through the region (token kept there)
    base = f"{levels.region}/federation/"
    sub = httpx.get(base + child["content"]["uri"], timeout=60)
    own = httpx.get(f"{levels.urls['tumed-left']}/tiles/tileset.json", timeout=60,
                    headers=_auth("tumed-left"))
    assert sub.json() == own.json()
    assert extras["local_frame"] == own.json()["asset"]["extras"]["local_frame"]
    uri = _first_content(sub.json()["root"])
    glb = httpx.get(base + "members/tumed-left/tiles/" + uri, timeout=60)
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    bad = httpx.get(base + "members/tumed-left/tiles/../twin", timeout=60)
    assert bad.status_code in (400, 404)


def _first_content(tile: dict) -> str:
    if "content" in tile:
        return tile["content"]["uri"]
    return _first_content(tile["children"][0])


def test_federation_check_reports_each_member(levels, tmp_path):
    r = CliRunner().invoke(cli, ["federation", "check", "--json", str(levels.members)])
    assert r.exit_code == 0, r.output

    rows = {m["member"]: m for m in json.loads(r.output)["members"]}
    assert all(m["reachable"] for m in rows.values())
    assert rows["hohhot"]["version"] == twin.__version__
    assert rows["old-banner"]["version"] is None  # the older release declares none
    assert rows["old-banner"]["where"] is False and rows["hohhot"]["where"] is True
    assert rows["tumed-left"]["crs"].endswith("4546") and rows["tumed-left"]["token"]
    lon0, lat0, lon1, lat1 = rows["tumed-left"]["extent_crs84"]
    assert 111.12 < lon0 < lon1 < 111.14 and 40.66 < lat0 < lat1 < 40.67
    down = members_toml(tmp_path / "down.toml", [
        {"name": "gone", "level": "county", "url": "http://127.0.0.1:9", "timeout_s": 1}])
    r = CliRunner().invoke(cli, ["federation", "check", str(down)])
    assert r.exit_code == 3
    assert "member gone (http://127.0.0.1:9) unreachable: down: /: ConnectError" in r.output


@pytest.mark.parametrize(("entry", "message"), [
    ({"token": "abc"}, "unknown key(s) token"),
    ({"token_env": "TWIN_FEDERATION_TEST_UNSET"},
     "the environment variable TWIN_FEDERATION_TEST_UNSET (token_env) is not set"),
    ({"level": "province"}, "level 'province' is not one of region, city, county"),
    ({"url": "ftp://x"}, "must be http(s)://host"),
])
def test_a_bad_members_file_is_refused_naming_the_member(tmp_path, entry, message):
    from twin.errors import ConfigError
    from twin_api.federation.config import load_federation

    m = {"name": "hohhot", "level": "city", "url": "http://127.0.0.1:1", **entry}
    path = members_toml(tmp_path / "bad.toml", [m])
    with pytest.raises(ConfigError, match="member 1 \\(hohhot\\)") as e:
        load_federation(path, environ={})
    assert message in str(e.value) and str(path) in str(e.value)


def test_twin_serve_read_token_file_and_members_options(levels, tmp_path):
    """The real command: a private twin answers its read token only, and a
    region started with --members answers for its members."""
    from conftest import twin_serve

    members = members_toml(tmp_path / "members.toml", [
        {"name": "tumed-left", "level": "county", "url": levels.urls["tumed-left"],
         "token_file": str(token_file(tmp_path)), "timeout_s": 60}])
    with twin_serve(levels.twins["tumed-left"], "--read-token-file",
                    str(token_file(tmp_path))) as (county, _), \
            twin_serve(levels.twins["nei-mongol"], "--members", str(members)) as (region, _):
        assert httpx.get(f"{county}/twin", timeout=30).status_code == 401
        assert httpx.get(f"{county}/twin", headers=_auth("tumed-left"),
                         timeout=30).status_code == 200
        doc = httpx.get(f"{region}/federation/members", timeout=60).json()
    [row] = doc["members"]
    assert row["member"] == "tumed-left" and row["reachable"] and row["token"]
    assert TOKEN not in json.dumps(doc)  # a token never leaves the server


def test_slow_and_failing_members_are_bounded_and_named():
    """A member that hangs, or answers 503 or 500, on a real server: each
    request gives up after its timeout, a 503 is retried a bounded number of
    times, a 500 is not, and every failure says which and why."""
    import asyncio
    import time

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from twin_api.federation.client import MemberFailure

    calls = {"slow": 0, "busy": 0, "broken": 0}

    async def answer(request):
        what = request.path_params["what"]
        calls[what] += 1
        if what == "slow":
            await asyncio.sleep(2)  # four times the timeout; the server waits for it to stop
        status = {"slow": 200, "busy": 503, "broken": 500}[what]
        return JSONResponse({"detail": f"{what} here"}, status_code=status)

    with served(Starlette(routes=[Route("/{what}", answer)])) as url:
        client = MemberClient(Member("flaky", "county", url, timeout_s=0.5, retries=2))
        try:
            for what, reason, tries in (("slow", "timeout", 3), ("busy", "http error", 3),
                                        ("broken", "http error", 1)):
                t0 = time.monotonic()
                with pytest.raises(MemberFailure) as e:
                    client.get_json(f"/{what}")
                assert time.monotonic() - t0 < 3 * 0.5 + 0.6 + 1.0  # timeouts + backoff
                assert e.value.failure.member == "flaky"
                assert e.value.failure.reason == reason, e.value.failure
                assert calls[what] == tries, what
            assert "broken here" in str(e.value)  # the member's own problem detail
        finally:
            client.close()


@pytest.mark.parametrize(("params", "message"), [
    ({"layer": "buildings", "cursor": "bm90IGEgY3Vyc29y"}, "cursor: not a cursor of this search"),
    ({"layer": "buildings", "bbox": "559000,4520800,559100,4520900"}, "in WGS 84"),
    ({"layer": "../twin"}, "is not a layer name"),
])
def test_bad_federated_questions_are_400s_naming_the_parameter(levels, params, message):
    r = httpx.get(f"{levels.region}/federation/search", params=params, timeout=60)
    assert r.status_code == 400 and message in r.json()["detail"], r.text

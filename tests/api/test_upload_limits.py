"""``twin serve`` with a token under hostile uploads, over real HTTP: nothing
is taken onto the disk before the token, the size and the queue are checked;
the queue is bounded; jobs live with the twin, so several workers answer
for every job and import one at a time."""

from __future__ import annotations

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from api_helpers import TOKEN, disk_bytes, push_upload
from builders import X0, Y0, small_city
from conftest import twin_serve

import twin

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 1024**2


@pytest.fixture
def place(tmp_path):
    """A small twin, its token file, a work directory and a temp directory
    for the server (TMPDIR), all under tmp_path."""
    path = tmp_path / "city.gpkg"
    with twin.create_twin(path, "EPSG:4546") as store:
        with store.import_batch("small_city", "test", "tests", "1") as b:
            b.add(small_city())
    (tmp_path / "token").write_text(TOKEN)
    for d in ("work", "tmp"):
        (tmp_path / d).mkdir()
    return tmp_path


def _serve(place, *options):
    return twin_serve(place / "city.gpkg", "--token-file", str(place / "token"),
                      "--work-dir", str(place / "work"), *options,
                      env={"TMPDIR": str(place / "tmp")})


def _geojson(tag: str, n: int = 2, pad: int = 0) -> bytes:
    feats = [{"type": "Feature", "id": f"{tag}{i}", "properties": {"storeys": 3 + i},
              "geometry": {"type": "Polygon", "coordinates": [[
                  [X0 + 200 + 30 * i, Y0], [X0 + 220 + 30 * i, Y0],
                  [X0 + 220 + 30 * i, Y0 + 10], [X0 + 200 + 30 * i, Y0]]]}}
             for i in range(n)]
    doc = json.dumps({"type": "FeatureCollection", "twin": {"layer": "buildings"},
                      "crs": {"type": "name",
                              "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
                      "features": feats})
    return (doc + " " * pad).encode()


def _wait(c: httpx.Client, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = c.get(f"/twin/imports/{job_id}", headers=AUTH).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_large_uploads_are_refused_before_their_body_is_taken(place):
    with _serve(place, "--max-upload-mb", "2") as (url, _):
        before = disk_bytes(place / "work", place / "tmp")
        # 600 MB without a token: 401 at once, and the server stops reading
        anon = push_upload(url, {}, 600 * MB)
        assert anon.status == 401 and anon.header("connection") == "close"
        assert anon.body_sent < 16 * MB
        # a wrong scheme is no token either
        assert push_upload(url, {"Authorization": f"Basic {TOKEN}"}, 600 * MB).status == 401
        # with the token, a declared 600 MB is over the limit: 413 before reading
        big = push_upload(url, AUTH, 600 * MB)
        assert big.status == 413 and big.body_sent < 16 * MB
        assert "2097152" in big.response.decode()
        # chunked (no size declared): refused once the limit is passed while streaming
        chunked = push_upload(url, AUTH, 600 * MB, chunked=True)
        assert chunked.status == 413 and chunked.body_sent < 2 * MB + 16 * MB
        assert disk_bytes(place / "work", place / "tmp") - before < 1 * MB
        with httpx.Client(base_url=url, timeout=30) as c:  # nothing was queued
            assert c.get("/twin/imports", headers=AUTH).json()["jobs"] == []


def test_the_queue_is_bounded_and_answers_429_with_retry_after(place):
    with _serve(place, "--max-queued", "2", "--max-queued-mb", "3", "--max-upload-mb", "2"
                ) as (url, _):
        other = sqlite3.connect(place / "city.gpkg", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program writes the twin: jobs must wait
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                answers = [c.post("/twin/imports", headers=AUTH,
                                  files={"file": (f"q{i}.geojson", _geojson(f"Q{i}-"))})
                           for i in range(4)]
                codes = [r.status_code for r in answers]
                assert codes[0] == codes[1] == 202 and 429 in codes[2:], codes
                full = next(r for r in answers if r.status_code == 429)
                assert int(full.headers["retry-after"]) > 0
                assert "queue is full" in full.json()["detail"]
                ids = [r.json()["id"] for r in answers if r.status_code == 202]
                deadline = time.monotonic() + 10  # the runner tries, finds the twin
                while True:                       # busy and queues the job again
                    notes = [c.get(f"/twin/imports/{i}", headers=AUTH).json()["note"] or ""
                             for i in ids]
                    if any("another program" in n for n in notes) or \
                            time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                assert any("another program" in n for n in notes), notes
                assert not any(str(place) in n for n in notes)  # no server path
        finally:
            other.execute("ROLLBACK")
            other.close()
        with httpx.Client(base_url=url, timeout=30) as c:  # the twin is free: they run
            assert [_wait(c, i)["status"] for i in ids] == ["succeeded"] * len(ids)


def test_queued_bytes_are_bounded(place):
    with _serve(place, "--max-queued", "5", "--max-queued-mb", "3", "--max-upload-mb", "2"
                ) as (url, _):
        other = sqlite3.connect(place / "city.gpkg", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                one = c.post("/twin/imports", headers=AUTH,
                             files={"file": ("a.geojson", _geojson("A", pad=MB * 3 // 2))})
                assert one.status_code == 202
                two = c.post("/twin/imports", headers=AUTH,
                             files={"file": ("b.geojson", _geojson("B", pad=MB * 19 // 10))})
                assert two.status_code == 429 and "bytes" in two.json()["detail"]
                assert two.headers["retry-after"]
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_two_workers_share_the_jobs_and_import_one_at_a_time(place):
    with _serve(place, "--workers", "2") as (url, _):
        with httpx.Client(base_url=url, timeout=30) as c:
            ids = [c.post("/twin/imports", headers=AUTH,
                          files={"file": (f"../up/新 blocks {k}.geojson",
                                          _geojson(f"W{k}-", n=400))}).json()["id"]
                   for k in range(3)]

        def poll(k: int) -> tuple[int, str]:
            # a new connection each time: the kernel hands it to either worker
            r = httpx.get(f"{url}/twin/imports/{ids[k % 3]}", headers=AUTH, timeout=30)
            return r.status_code, r.json().get("status", "")

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(poll, range(160)))
        assert [code for code, _ in answers] == [200] * 160
        with httpx.Client(base_url=url, timeout=30) as c:
            jobs = [_wait(c, i) for i in ids]
            assert [j["status"] for j in jobs] == ["succeeded"] * 3, jobs
            spans = sorted((j["started"], j["finished"]) for j in jobs)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # never two at once
            # provenance names the client's file and the job, never a server path
            prov = c.get("/twin/features/geojson:新 blocks 1:W1-0").json()["provenance"]
        assert prov["source_file"] == f"新 blocks 1.geojson (import job {ids[1]})"
        assert str(place) not in json.dumps(prov) and "job-" not in json.dumps(prov)
        with twin.open_twin(place / "city.gpkg", readonly=True) as store:
            assert {b.source for b in store.batches()} >= {
                f"新 blocks {k}.geojson (import job {ids[k]})" for k in range(3)}

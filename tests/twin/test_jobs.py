"""The job board kept with a twin: queue bounds, one running job across
processes, heartbeats, and what is forgotten."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from twin.errors import NotFoundError
from twin.store.jobs import JobBoard, QueueFullError, QueueLimits


@pytest.fixture
def boards(city):
    """Two boards of one twin, as two server processes hold them."""
    a, b = city.job_board(), city.job_board()
    yield a, b
    a.close()
    b.close()


def _queued(board: JobBoard, label: str, size: int = 10, limits: QueueLimits | None = None
            ) -> str:
    limits = limits or QueueLimits()
    job = board.reserve(label, size, limits, who="token:abc")
    board.enqueue(job.id, label, size, {"upload": f"/srv/{label}"})
    return job.id


def test_a_job_is_seen_by_every_process_and_hides_its_payload(boards):
    a, b = boards
    job = a.reserve("roads.geojson", 100, QueueLimits(), who="token:abc")
    assert job.status == "receiving" and b.get(job.id).label == "roads.geojson"
    a.enqueue(job.id, "roads.geojson", 80, {"upload": "/srv/upload-1.geojson"})
    seen = b.get(job.id)
    assert (seen.status, seen.size, seen.who) == ("queued", 80, "token:abc")
    assert seen.payload == {"upload": "/srv/upload-1.geojson"}
    assert "/srv" not in str(seen.public()) and seen.public()["file"] == "roads.geojson"
    with pytest.raises(NotFoundError, match="'nope'"):
        b.get("nope")


def test_the_queue_is_bounded_in_jobs_and_bytes(boards):
    a, b = boards
    limits = QueueLimits(max_jobs=3, max_bytes=1000)
    _queued(a, "1.geojson", 100, limits)
    b.reserve("2.geojson", 100, limits)  # still receiving: counts too
    _queued(a, "3.geojson", 100, limits)
    with pytest.raises(QueueFullError, match="3 jobs wait, at most 3") as err:
        b.reserve("4.geojson", 1, limits)
    assert err.value.retry_after > 0
    job = a.claim("w1", stale_after=30)  # a running job's bytes still count ...
    assert job.label == "1.geojson"
    with pytest.raises(QueueFullError, match="300 bytes"):
        b.reserve("big.geojson", 701, limits)
    b.reserve("fits.geojson", 700, limits)  # ... but it no longer waits


def test_one_job_runs_at_a_time_across_processes(boards):
    a, b = boards
    ids = [_queued(a, f"{i}.geojson") for i in range(3)]

    def claim(board_worker):
        board, worker = board_worker
        return board.claim(worker, stale_after=30)

    with ThreadPoolExecutor(8) as pool:
        got = [j for j in pool.map(claim, [(a, "w1"), (b, "w2")] * 8) if j is not None]
    assert [j.id for j in got] == [ids[0]]  # the oldest, once
    running = got[0]
    assert a.claim("w1", stale_after=30) is None
    a.heartbeat(running.id, running.worker, done=5, total=10)
    assert b.get(running.id).public()["progress"] == {"done": 5, "total": 10}
    b.finish(running.id, running.worker, result={"features": 2})
    done = a.get(running.id)
    assert done.status == "succeeded" and done.result == {"features": 2} and not done.payload
    assert b.claim("w2", stale_after=30).id == ids[1]


def test_a_job_can_go_back_to_the_queue(boards):
    a, b = boards
    first = _queued(a, "1.geojson")
    job = a.claim("w1", stale_after=30)
    a.requeue(job.id, "w1", "the twin is being written by 'twin import x.ifc'")
    again = b.get(first)
    assert again.status == "queued" and "twin import" in again.note
    assert b.claim("w2", stale_after=30).id == first


def test_a_stale_running_job_is_failed_and_stalled_uploads_forgotten(boards):
    a, b = boards
    dead = _queued(a, "dead.geojson")
    a.claim("w1", stale_after=30)
    stalled = a.reserve("stalled.geojson", 10, QueueLimits()).id
    waiting = _queued(a, "next.geojson")
    time.sleep(0.3)
    assert b.claim("w2", stale_after=30) is None  # w1 is still fresh enough
    gone = b.expire(stale_after=0.2, keep_finished=10)
    assert {j.id for j in gone} == {dead, stalled}
    assert [j.payload for j in gone if j.id == dead] == [{"upload": "/srv/dead.geojson"}]
    failed = b.get(dead)
    assert failed.status == "failed" and "stopped" in failed.error and "unchanged" in failed.error
    with pytest.raises(NotFoundError):
        b.get(stalled)
    with pytest.raises(NotFoundError, match="stalled"):
        a.enqueue(stalled, "stalled.geojson", 10, {})
    assert b.claim("w2", stale_after=30).id == waiting


def test_only_the_newest_finished_jobs_are_kept(boards):
    a, _ = boards
    for i in range(5):
        _queued(a, f"{i}.geojson")
        job = a.claim("w", stale_after=30)
        a.finish(job.id, "w", error="bad file" if i % 2 else None)
        time.sleep(0.01)
    gone = a.expire(stale_after=3600, keep_finished=2)
    assert sorted(j.label for j in gone) == ["0.geojson", "1.geojson", "2.geojson"]
    assert [j.label for j in a.jobs()] == ["4.geojson", "3.geojson"]
    assert [j.status for j in a.jobs()] == ["succeeded", "failed"]


@pytest.mark.backends("gpkg")
def test_the_board_lives_beside_the_twin_and_leaves_it_unchanged(city):
    from builders import dump_twin

    before = dump_twin(city.path)
    with city.job_board() as board:
        _queued(board, "a.geojson")
    assert dump_twin(city.path) == before
    assert city.revision() == 1  # jobs are not changes of the twin

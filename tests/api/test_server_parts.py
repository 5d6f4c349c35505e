"""The server's parts without HTTP: result cache, rate limiter, file names, tokens."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin_api.auth import bearer_token, token_id
from twin_api.cache import Cached, ResultCache
from twin_api.ratelimit import RateLimiter
from twin_api.uploads import sanitise_filename


def test_fifty_callers_at_once_compute_a_result_once():
    cache = ResultCache(1 << 20)
    calls = []
    gate = threading.Event()

    def compute() -> Cached:
        calls.append(1)
        gate.wait(5)  # slow, so that every caller arrives while it runs
        return Cached(b'{"ok": 1}', "application/json")

    with ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(cache.get_or_compute, 7, "indicators", compute)
                   for _ in range(50)]
        time.sleep(0.2)
        gate.set()
        results = [f.result() for f in futures]
    assert len(calls) == 1 and {r.body for r in results} == {b'{"ok": 1}'}
    assert cache.misses == 1 and cache.hits + cache.misses <= 50


def test_an_error_reaches_every_waiter_and_is_not_kept():
    cache = ResultCache(1 << 20)

    def fails() -> Cached:
        time.sleep(0.1)
        raise ValueError("bad year")

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(cache.get_or_compute, 1, "k", fails) for _ in range(5)]
        for f in futures:
            with pytest.raises(ValueError, match="bad year"):
                f.result()
    assert cache.get_or_compute(1, "k", lambda: Cached(b"1", "x")).body == b"1"


def test_a_new_revision_drops_older_results_and_bytes_stay_bounded():
    cache = ResultCache(1000)
    for i in range(20):
        cache.get_or_compute(1, i, lambda: Cached(b"x" * 100, "x"))
    assert cache.size <= 1000
    cache.get_or_compute(1, 19, lambda: Cached(b"never", "x"))  # still there: a hit
    assert cache.hits == 1
    cache.get_or_compute(2, 19, lambda: Cached(b"y", "x"))
    assert cache.size == 1  # revision 2 only
    big = cache.get_or_compute(2, "big", lambda: Cached(b"z" * 600, "x"))
    assert big.body == b"z" * 600 and cache.size == 1  # too big to keep (> a quarter)


def test_token_bucket_allows_the_burst_then_the_rate():
    rl = RateLimiter(rate=2.0, burst=4)
    assert [rl.take("a", 0.0) for _ in range(4)] == [0.0] * 4
    wait = rl.take("a", 0.0)
    assert wait == pytest.approx(0.5) and RateLimiter.retry_after(wait) == "1"
    assert rl.take("b", 0.0) == 0.0  # another client has its own bucket
    assert rl.take("a", 0.5) == 0.0  # one token back after 1/rate seconds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=200))
def test_no_client_gets_more_than_burst_plus_rate_times_time(gaps):
    rl = RateLimiter(rate=10.0, burst=5)
    now, allowed = 0.0, 0
    for g in gaps:
        now += g
        allowed += rl.take("c", now) == 0.0
    assert allowed <= 5 + 10.0 * now + 1e-6


def test_forgotten_clients_are_bounded():
    rl = RateLimiter(rate=1.0, burst=1, max_clients=100)
    for i in range(1000):
        rl.take(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(rl._buckets) == 100


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_a_sanitised_file_name_is_one_harmless_path_component(name):
    out = sanitise_filename(name)
    assert out and len(out) <= 120
    assert "/" not in out and "\\" not in out and out not in (".", "..")
    assert all(ord(c) >= 32 and c not in "\x7f\u202e\u200b" for c in out)
    assert sanitise_filename(out) == out  # stable


def test_a_long_name_keeps_its_extension():
    out = sanitise_filename("管网" * 100 + ".city.json")
    assert out.endswith(".json") and len(out) <= 120


@pytest.mark.parametrize("header, token", [
    ("Bearer abc-DEF_0.9~+/==", "abc-DEF_0.9~+/=="), ("bearer abc", "abc"),
    ("BEARER   abc  ", "abc"), ("abc", None), ("Bearer", None), ("Bearer a b", None),
    ("Basic abc", None), ("Bearer a=b", None), ("", None), (None, None),
])
def test_bearer_credentials_follow_rfc_6750(header, token):
    assert bearer_token(header) == token


def test_a_token_id_names_without_revealing():
    tid = token_id("test-token-0123456789abcdef")
    assert tid.startswith("token:") and "test-token" not in tid and len(tid) == 18
    assert tid == token_id("test-token-0123456789abcdef") != token_id("another-token-000000")

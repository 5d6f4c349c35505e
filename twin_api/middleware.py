"""ASGI middleware of a server on a city network: access log, rate limit,
request size and time limits, HEAD, and errors that keep the connection.

Outermost first, as :func:`twin_api.app.create_app` stacks them:

``AccessLog``
    one JSON line per request (time, client, method, path, status, bytes,
    milliseconds; for an import also the token's id, the file and the job).
``RateLimit``
    a token bucket per client address (:mod:`twin_api.ratelimit`), 429.
``Limits``
    414 for an overlong request target, 413 for a body over the limit (an
    upload route reads its own body, with its own limit), and 503 with
    ``Retry-After`` for a request whose answer has not begun in time.
``Head``
    HEAD answered as GET without the body (HTTP requires HEAD wherever GET
    is offered; the framework's routes know GET only).
``Errors``
    an unexpected exception becomes a 500 problem document *and the
    keep-alive connection stays open*: the framework's own handler re-raises
    after answering, which makes the server drop the connection.

All of them are plain ASGI callables: each takes the next app and settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twin.numbers import is_whole_number

from .problems import MEDIA_TYPE, ApiProblem
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)
access_log = logging.getLogger("twin_api.access")

Scope = dict[str, Any]


async def send_problem(send, problem: ApiProblem, path: str,
                       headers: tuple[tuple[str, str], ...] = ()) -> None:
    """Answer with a problem document (RFC 9457)."""
    body = json.dumps(problem.body(path), ensure_ascii=False).encode()
    raw = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": problem.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v
    return None


class AccessLog:
    """One JSON line per request on the ``twin_api.access`` logger. A route
    adds fields for its line with ``request.state.access = {...}``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 0
        sent = 0

        async def send_(msg: dict) -> None:
            nonlocal status, sent
            if msg["type"] == "http.response.start":
                status = msg["status"]
            elif msg["type"] == "http.response.body":
                sent += len(msg.get("body", b""))
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "client": _client(scope), "method": scope["method"], "path": scope["path"],
                    "status": status or 500, "bytes": sent,
                    "ms": round((time.perf_counter() - t0) * 1000, 2)}
            extra = state.get("access")
            if isinstance(extra, dict):
                line.update(extra)
            access_log.info(json.dumps(line, ensure_ascii=False))


class RateLimit:
    """429 with ``Retry-After`` for a client past its rate (``exempt`` paths,
    such as the load balancer's health check, are never limited)."""

    def __init__(self, app, limiter: RateLimiter | None, exempt: frozenset[str] = frozenset()):
        self.app = app
        self.limiter = limiter
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "http" and self.limiter is not None \
                and scope["path"] not in self.exempt:
            wait = self.limiter.take(_client(scope), time.monotonic())
            if wait > 0:
                await send_problem(send, ApiProblem(
                    429, "Too many requests",
                    f"this client sent more than {self.limiter.rate:g} requests per second "
                    f"(bursts of {self.limiter.burst:g}); retry after the time given"),
                    scope["path"], (("Retry-After", RateLimiter.retry_after(wait)),))
                return
        await self.app(scope, receive, send)


class Limits:
    """Bounds on the request target, the body, and the time to an answer."""

    def __init__(self, app, *, max_body: int, max_target: int, timeout_s: float,
                 reads_own_body: Callable[[str], bool]):
        self.app = app
        self.max_body = max_body
        self.max_target = max_target
        self.timeout_s = timeout_s
        self.reads_own_body = reads_own_body

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) \
                > self.max_target:
            await send_problem(send, ApiProblem(
                414, "URI too long",
                f"the request target is longer than {self.max_target} bytes"), path[:200])
            return
        if self.reads_own_body(path):  # an upload: its route bounds size and stalls
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not is_whole_number(declared)
                                     or int(declared) > self.max_body):
            await send_problem(send, ApiProblem(
                413, "Request too large",
                f"a request body may have at most {self.max_body} bytes here"), path)
            return
        await self._in_time(scope, self._bounded(receive), send)

    def _bounded(self, receive):
        """A chunked body past the limit ends the request as a disconnect."""
        seen = 0
        limit = self.max_body

        async def receive_() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    return {"type": "http.disconnect"}
            return msg

        return receive_

    async def _in_time(self, scope: Scope, receive, send) -> None:
        """Run the request in this task; if its answer has not begun when the
        time is up, cancel it (work still queued for a thread is dropped,
        running work finishes unseen) and answer 503. An answer that has
        begun streams on without a limit."""
        task = asyncio.current_task()
        if task is None:  # never: a coroutine of the server's event loop runs this
            raise RuntimeError("a request handled outside an asyncio task")
        started = late = False

        def expire() -> None:
            nonlocal late
            if not started:
                late = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.timeout_s, expire)

        async def send_(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                timer.cancel()
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        except asyncio.CancelledError:
            if not late:
                raise
            task.uncancel()
            await send_problem(send, ApiProblem(
                503, "Request timeout",
                f"the answer took longer than {self.timeout_s:g} s; the server is busy or the "
                "request asks for too much (a smaller bbox, fewer layers, a smaller page)"),
                scope["path"], (("Retry-After", "10"),))
        finally:
            timer.cancel()


class Head:
    """HEAD as GET, without the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_(msg: dict) -> None:
            if msg["type"] == "http.response.body" and msg.get("body"):
                msg = {**msg, "body": b""}
            await send(msg)

        await self.app({**scope, "method": "GET"}, receive, send_)


class Errors:
    """An unexpected exception: a 500 problem, logged, connection kept."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        except Exception as exc:
            if started:  # half an answer is out: only closing the connection ends it
                raise
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await send_problem(send, ApiProblem(
                500, "Internal error",
                f"the server failed on this request ({type(exc).__name__}); the error is "
                "logged"), scope["path"])


def log_access_to(target: str | None) -> None:
    """Send the access log (one JSON object per line) to the file ``target``,
    or to standard error for ``-``; ``None`` leaves logging as it is
    configured. For the edges of the program (``twin serve``, its worker
    processes), never for a library caller."""
    if not target:
        return
    import sys

    handler = (logging.StreamHandler(sys.stderr) if target == "-"
               else logging.FileHandler(target, encoding="utf-8"))
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False

"""Validators for GET answers: ``ETag`` and ``304 Not Modified``.

A region's twin reads its members' answers again and again (every federated
search, every roll-up); an answer that has not changed since it was last
read should cost a few header bytes, not the whole GeoJSON. This ASGI
middleware gives every successful GET answer that comes in one piece (with a
``Content-Length``; streamed pages of more than
:data:`~twin_api.features.WHOLE_PAGE` features are left alone) a strong
``ETag``, the BLAKE2b digest of its body, and answers ``304`` with no body
when the request's ``If-None-Match`` names it (RFC 9110, section 13.1.2).
Answers whose body holds the time they were made (the ``timeStamp`` of an
OGC API - Features page) carry their own weak tag instead, made from the
twin's revision (:func:`revision_tag`: the same page of the same revision
is the same answer); this middleware answers ``304`` for those too, and for
streamed ones. The static viewer files and 3D Tiles answer conditional
requests themselves.

The body is still computed; what is saved is the transfer and the client's
parsing. (Results kept per twin revision, such as ``/indicators``, are not
even computed again: :mod:`twin_api.cache`.)
"""

from __future__ import annotations

import hashlib
from typing import Any

Scope = dict[str, Any]
#: Answers larger than this are sent on without a digest.
MAX_DIGESTED = 32 * 1024**2


def revision_tag(twin_id: str, revision: int) -> str:
    """A weak ETag for answers that change only with the twin (and with the
    toolkit's version)."""
    from twin import __version__

    key = f"{twin_id}|{revision}|{__version__}".encode()
    return 'W/"r' + str(revision) + "-" + hashlib.blake2b(key, digest_size=8).hexdigest() + '"'


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison of ``If-None-Match`` against our tag."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


class Validators:
    """ETag on whole GET answers, 304 when the client already has it."""

    def __init__(self, app, max_digested: int = MAX_DIGESTED):
        self.app = app
        self.max_digested = max_digested

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        inm = next((v.decode("latin-1") for k, v in scope["headers"]
                    if k == b"if-none-match"), None)
        start: dict | None = None
        chunks: list[bytes] = []
        passing = swallow = False

        async def send_(msg: dict) -> None:
            nonlocal start, passing, swallow
            if swallow:  # a 304 went out: the body is not sent
                return
            if passing:
                await send(msg)
                return
            if msg["type"] == "http.response.start":
                own = next((v.decode("latin-1") for k, v in msg.get("headers", ())
                            if k.lower() == b"etag"), None)
                if own is not None and msg["status"] == 200 and inm is not None \
                        and _matches(inm, own):
                    await _not_modified(send, msg["headers"])
                    swallow = True
                    return
                length = next((int(v) for k, v in msg.get("headers", ())
                               if k.lower() == b"content-length"), None)
                if msg["status"] != 200 or own is not None or length is None \
                        or length > self.max_digested:
                    passing = True
                    await send(msg)
                else:
                    start = msg
                return
            chunks.append(msg.get("body", b""))
            if msg.get("more_body"):
                return
            if start is None:  # never: ASGI sends a response's start before its body
                raise RuntimeError("a response body before the response started")
            body = b"".join(chunks)
            tag = etag_of(body)
            headers = [(k, v) for k, v in start["headers"]]
            if inm is not None and _matches(inm, tag):
                await _not_modified(send, [*headers, (b"etag", tag.encode())])
                return
            await send({**start, "headers": [*headers, (b"etag", tag.encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_)


async def _not_modified(send, headers: list) -> None:
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length",
                                                          b"content-type")]
    await send({"type": "http.response.start", "status": 304, "headers": kept})
    await send({"type": "http.response.body", "body": b""})

"""One member twin over HTTP: bounded, retried, cached and revalidated.

Every request to a member has a time limit (connecting, and each wait for
its answer), is retried a bounded number of times when the network failed
or the member answered 429/502/503/504 (with a short backoff), and may bring at
most :data:`MAX_BODY_BYTES`. A failure is a :class:`MemberFailure` naming
the member and why, in a few words a person can act on (``down``,
``timeout``, ``http error``, ``unauthorized``, ``bad answer``): the
federated answers list them instead of failing or leaving a silent gap.

Answers are kept per URL with their validators (``ETag``, ``Last-Modified``)
and asked for again conditionally (``If-None-Match``, ``If-Modified-Since``):
a ``304`` reuses the kept body. ``Cache-Control: no-store`` is honoured and
``max-age`` spares the request while the answer is fresh. The cache is
bounded in bytes, least recently used first out.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx

from twin.numbers import is_whole_number

from .config import Member

#: Largest answer read from a member.
MAX_BODY_BYTES = 64 * 1024**2
#: Memory for kept answers, per member.
CACHE_BYTES = 32 * 1024**2
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_BACKOFF_S = 0.2


@dataclass(frozen=True)
class Failure:
    """Why a member is missing from an answer."""

    member: str
    reason: str  # down, timeout, http error, unauthorized, bad answer, unsupported
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"member": self.member, "reason": self.reason, "detail": self.detail}


class MemberFailure(Exception):
    """A request to a member failed (carries the :class:`Failure`)."""

    def __init__(self, failure: Failure):
        super().__init__(f"{failure.member}: {failure.reason}: {failure.detail}")
        self.failure = failure


@dataclass
class _Kept:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    fresh_until: float
    parsed: Any = None  # the JSON document, once read (kept answers are not changed)


def _max_age(cache_control: str) -> float | None:
    for part in cache_control.lower().split(","):
        k, _, v = part.strip().partition("=")
        if k == "max-age" and is_whole_number(v):
            return float(v)
    return None


class MemberClient:
    """Requests to one member (thread-safe)."""

    def __init__(self, member: Member, *, cache_bytes: int = CACHE_BYTES,
                 transport: httpx.BaseTransport | None = None):
        self.member = member
        t = member.timeout_s
        headers = {"Accept": "application/json, application/geo+json;q=0.9, */*;q=0.1",
                   "User-Agent": "twin-federation"}
        if member.token is not None:
            headers["Authorization"] = f"Bearer {member.token}"
        self._http = httpx.Client(base_url=member.url, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(t, connect=min(t, 5.0)),
                                  follow_redirects=False)
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._size = 0
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self.revalidated = 0  # answers reused after a 304
        self.fetched = 0  # answers transferred whole

    def close(self) -> None:
        self._http.close()

    def _fail(self, reason: str, detail: str) -> MemberFailure:
        return MemberFailure(Failure(self.member.name, reason, detail))

    # -- the cache ------------------------------------------------------------
    def _get_kept(self, key: str) -> _Kept | None:
        with self._lock:
            k = self._kept.get(key)
            if k is not None:
                self._kept.move_to_end(key)
            return k

    def _keep(self, key: str, kept: _Kept) -> None:
        if len(kept.body) > self._cache_bytes // 4:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._kept[key] = kept
            self._size += len(kept.body)
            while self._size > self._cache_bytes:
                _, gone = self._kept.popitem(last=False)
                self._size -= len(gone.body)

    # -- requests -------------------------------------------------------------
    def _send(self, path: str, params: list[tuple[str, str]], headers: dict[str, str]
              ) -> tuple[int, dict[str, str], bytes]:
        """One GET with retries; the status, headers and body (bounded)."""
        last: MemberFailure | None = None
        for attempt in range(self.member.retries + 1):
            if attempt:
                time.sleep(_BACKOFF_S * 2 ** (attempt - 1))
            try:
                # a tuple: httpx types a list of pairs as invariant in the value type
                with self._http.stream("GET", path, params=tuple(params),
                                       headers=headers) as r:
                    if r.status_code in _RETRY_STATUS:
                        last = self._fail("http error", f"HTTP {r.status_code} from {path}")
                        continue
                    declared = r.headers.get("content-length")
                    if declared and is_whole_number(declared) and int(declared) > MAX_BODY_BYTES:
                        raise self._fail("bad answer", f"{path}: {declared} bytes, more than "
                                                       f"the {MAX_BODY_BYTES} allowed")
                    body = bytearray()
                    for chunk in r.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY_BYTES:
                            raise self._fail("bad answer", f"{path}: more than "
                                                           f"{MAX_BODY_BYTES} bytes")
                    return r.status_code, dict(r.headers), bytes(body)
            except httpx.TimeoutException as exc:
                last = self._fail("timeout", f"no answer to {path} within "
                                             f"{self.member.timeout_s:g} s "
                                             f"({type(exc).__name__})")
            except httpx.TransportError as exc:
                last = self._fail("down", f"{path}: {type(exc).__name__}: {exc}"[:300])
            except httpx.HTTPError as exc:  # an answer that cannot be read (bad encoding)
                raise self._fail("bad answer", f"{path}: {type(exc).__name__}: "
                                               f"{exc}"[:300]) from exc
        assert last is not None
        raise last

    def get(self, path: str, params: list[tuple[str, str]] | dict[str, Any] | None = None
            ) -> tuple[bytes, str]:
        """The body and media type of ``GET path?params``, revalidated when
        kept from before; raises :class:`MemberFailure`."""
        _, body, ctype = self._get(path, params)
        return body, ctype

    def _get(self, path: str, params: list[tuple[str, str]] | dict[str, Any] | None
             ) -> tuple[_Kept | None, bytes, str]:
        """The answer and, when it is the one kept, its :class:`_Kept`."""
        items = [(k, str(v)) for k, v in (params.items() if isinstance(params, dict)
                                          else params or [])]
        key = path + ("?" + urlencode(items) if items else "")
        kept = self._get_kept(key)
        if kept is not None and kept.fresh_until > time.monotonic():
            return kept, kept.body, kept.content_type
        headers: dict[str, str] = {}
        if kept is not None and kept.etag:
            headers["If-None-Match"] = kept.etag
        if kept is not None and kept.last_modified:
            headers["If-Modified-Since"] = kept.last_modified
        status, h, body = self._send(path, items, headers)
        if status == 304 and kept is not None:
            self.revalidated += 1
            return kept, kept.body, kept.content_type
        if status in (401, 403):
            raise self._fail("unauthorized", f"HTTP {status} from {path}: "
                             + ("the token was refused" if self.member.has_token else
                                "the member requires a token (token_env or token_file)"))
        if status != 200:
            raise self._fail("http error", f"HTTP {status} from {path}: {_detail(body)}")
        self.fetched += 1
        cc = h.get("cache-control", "")
        ctype = h.get("content-type", "application/octet-stream")
        if "no-store" not in cc.lower() and (h.get("etag") or h.get("last-modified")
                                             or _max_age(cc)):
            age = _max_age(cc) if "no-cache" not in cc.lower() else None
            new = _Kept(body, ctype, h.get("etag"), h.get("last-modified"),
                        time.monotonic() + (age or 0))
            self._keep(key, new)
            return new, body, ctype
        return None, body, ctype

    def get_json(self, path: str, params: list[tuple[str, str]] | dict[str, Any] | None = None
                 ) -> Any:
        kept, body, _ = self._get(path, params)
        if kept is not None and kept.parsed is not None:
            return kept.parsed
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise self._fail("bad answer", f"{path}: not JSON ({exc})") from exc
        if kept is not None:
            kept.parsed = doc
        return doc


def _detail(body: bytes) -> str:
    """The detail of a problem document (RFC 9457), else the start of the body."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("detail"), str):
            return doc["detail"][:300]
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace")

"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has ``type``, ``title``, ``status`` and a
``detail`` that says what was wrong with the request; toolkit errors
(:class:`twin.errors.TwinError`) are mapped to HTTP statuses here, once.
"""

from __future__ import annotations

from typing import Any

from twin.errors import (
    CRSError,
    FeatureError,
    ImportFailedError,
    LayerError,
    NotFoundError,
    QueryError,
    StoreError,
    TwinError,
)

MEDIA_TYPE = "application/problem+json"


class ApiProblem(Exception):
    """An error response: HTTP ``status``, a short ``title`` and the ``detail``
    (and response ``headers``, such as ``Retry-After``)."""

    def __init__(self, status: int, title: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        out = {"type": f"https://digital-twin-city.example/problems/{slug}",
               "title": self.title, "status": self.status, "detail": self.detail}
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


def bad_request(detail: str, **extra: Any) -> ApiProblem:
    return ApiProblem(400, "Bad request", detail, **extra)


def from_twin_error(exc: TwinError, hide: str | None = None) -> ApiProblem:
    """The problem a toolkit error becomes; ``hide`` (the server's twin path)
    is replaced by ``the twin`` so that clients never learn server paths."""
    detail = str(exc)
    if hide:
        detail = detail.replace(hide, "the twin")
    if isinstance(exc, NotFoundError):
        return ApiProblem(404, "Not found", detail)
    if isinstance(exc, (QueryError, CRSError, LayerError, FeatureError)):
        return ApiProblem(400, "Bad request", detail)
    if isinstance(exc, ImportFailedError):
        return ApiProblem(422, "Import failed", detail)
    if isinstance(exc, StoreError):
        return ApiProblem(503, "Twin unavailable", detail)
    return ApiProblem(400, "Bad request", detail)


#: What each error status means here, for the OpenAPI document.
STATUS_TEXT = {
    400: "Bad request: a parameter is invalid (the detail names it)",
    401: "The endpoint needs 'Authorization: Bearer <token>'",
    403: "Imports are disabled: the server has no token",
    404: "No such resource (collection, feature, network or job)",
    408: "The upload stalled",
    413: "Too large (request body, upload, or scene)",
    414: "The request target is too long",
    415: "Unsupported file type or media type",
    429: "Too many requests (this client's rate, or the import queue is full); see "
         "Retry-After",
    503: "The twin is unavailable, or the answer took too long; see Retry-After",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries of problem documents for ``codes``."""
    return {code: {"description": STATUS_TEXT[code],
                   "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in codes}


#: The JSON schema of a problem document (RFC 9457).
PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"},
                   "instance": {"type": "string"}},
}

"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has ``type``, ``title``, ``status`` and a
``detail`` that says what was wrong with the request; toolkit errors
(:class:`twin.errors.TwinError`) are mapped to HTTP statuses here, once.
"""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import Any

from twin.errors import (
    AnalysisError,
    ConfigError,
    ConversionError,
    CRSError,
    ExportError,
    FeatureError,
    HierarchyError,
    ImportFailedError,
    LayerError,
    MissingExtraError,
    NotFoundError,
    OptionError,
    QueryError,
    StoreError,
    TwinError,
)

log = logging.getLogger(__name__)

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


#: Each toolkit error class and the problem it becomes, most specific first
#: (the first ``isinstance`` match wins). A class missing here is a 500: it
#: means the mapping forgot it, which tests/test_errors.py catches.
STATUS_OF: tuple[tuple[type[TwinError], int, str], ...] = (
    (NotFoundError, 404, "Not found"),
    (HierarchyError, 409, "Inconsistent hierarchy"),  # the twin's data, not the request
    (QueryError, 400, "Bad request"),
    (CRSError, 400, "Bad request"),
    (LayerError, 400, "Bad request"),
    (FeatureError, 400, "Bad request"),  # GeometryError too
    (OptionError, 400, "Bad request"),
    (AnalysisError, 400, "Bad request"),  # e.g. isolating a feature that is no segment
    (ConversionError, 422, "Conversion failed"),
    (ImportFailedError, 422, "Import failed"),
    (ExportError, 422, "Export not possible"),
    (StoreError, 503, "Twin unavailable"),  # NotATwinError, SchemaVersionError
    (ConfigError, 500, "Server misconfigured"),
    (MissingExtraError, 501, "Not installed on this server"),  # an extra left out
)


def from_twin_error(exc: TwinError, hide: str | None = None) -> ApiProblem:
    """The problem a toolkit error becomes; ``hide`` (the server's twin path)
    is replaced by ``the twin`` so that clients never learn server paths.

    A conversion error names its source file (the name, never the server's
    folder); an error class this table does not know is logged and answered
    500, since the fault is ours, not the client's.
    """
    detail = str(exc)
    if hide:
        detail = detail.replace(hide, "the twin")
    for cls, status, title in STATUS_OF:  # noqa: B007 - the match is used after the loop
        if isinstance(exc, cls):
            break
    else:
        log.error("unmapped toolkit error %s: %s", type(exc).__name__, detail)
        return ApiProblem(500, "Internal error", f"{detail} (an error the server does not "
                          f"map: {type(exc).__name__}; it is logged)")
    if isinstance(exc, ConversionError) and exc.source:
        name = PurePath(exc.source).name  # the file, never the server's folder
        return ApiProblem(status, title, detail.replace(exc.source, name), source=name)
    return ApiProblem(status, title, detail)


#: What each error status means here, for the OpenAPI document.
STATUS_TEXT = {
    400: "Bad request: a parameter is invalid (the detail names it)",
    401: "The endpoint needs 'Authorization: Bearer <token>'",
    403: "Imports are disabled: the server has no token",
    404: "No such resource (collection, feature, network or job)",
    409: "Conflict: a feature with that id exists already",
    408: "The upload stalled",
    412: "Precondition failed: the feature changed since the ETag that If-Match names",
    413: "Too large (request body, upload, scene, or features in one write)",
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

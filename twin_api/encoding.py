"""JSON out: documents encoded once, straight to bytes.

A framework's default path for a returned ``dict`` walks it twice (to make
it "JSON-able", then to encode it); for a page of features that is most of
the answer's time. Endpoints here return :func:`json_response`: one
``json.dumps`` of a document already made of JSON types.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from starlette.responses import Response

from .features import json_safe

JSON = "application/json"


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    return str(o)


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON; a NaN or infinity left in ``doc`` is written as
    ``null`` (JSON has neither), numpy values as plain numbers."""
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=_default)
    except ValueError:
        text = json.dumps(json_safe(json.loads(json.dumps(doc, default=_default))),
                          ensure_ascii=False, separators=(",", ":"))
    return text.encode()


def json_response(doc: Any, *, status: int = 200, media_type: str = JSON,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(doc), status_code=status, media_type=media_type, headers=headers)

"""Bearer tokens (RFC 6750): reading the header, comparing, naming a token.

A client sends ``Authorization: Bearer <token>``. The scheme name is
case-insensitive (``bearer`` and ``BEARER`` are the same scheme, RFC 9110
section 11.1) and required: a bare token is not a credential. The token
itself is a *b64token*: letters, digits, ``-._~+/`` and trailing ``=``.

Logs never hold a token: :func:`token_id` names it by a digest instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +"
                          r"(?P<token>[A-Za-z0-9\-._~+/]+=*) *")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header value, or ``None`` when the
    header is missing, names another scheme, or holds no valid b64token.

    >>> bearer_token("bearer abc.def")
    'abc.def'
    >>> bearer_token("abc.def") is None  # no scheme: no credential
    True
    """
    if not authorization:
        return None
    m = _CREDENTIALS.fullmatch(authorization.strip())
    if m is None or m.group("scheme").lower() != "bearer":
        return None
    return m.group("token")


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison (the time does not tell how much matched)."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def token_id(token: str) -> str:
    """A short, stable name of a token for logs and job records (a SHA-256
    prefix: it identifies the token without revealing it)."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def require_token(request: Any, expected: str | None, *, disabled: str, needs: str) -> str:
    """The id of the server's token carried by ``request`` (noted for the
    access log), else a problem: 403 saying ``disabled`` when the server has
    no token (writes are off), 401 saying ``needs`` when the request's is
    missing or wrong."""
    from .problems import ApiProblem

    if expected is None:
        raise ApiProblem(403, "Read-only server", disabled)
    token = bearer_token(request.headers.get("authorization"))
    if not token_matches(token, expected):
        raise ApiProblem(401, "Unauthorized", needs,
                         headers={"WWW-Authenticate": 'Bearer realm="twin"'})
    who = token_id(token)  # type: ignore[arg-type]  # a match is a token
    request.state.access = {"token": who}
    return who

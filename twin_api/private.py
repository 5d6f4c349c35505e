"""A private server: every request must carry the bearer token.

``twin serve --read-token-file FILE`` serves a twin that only the holders
of that token (or of the import token) may read: a county twin read by its
region, say. Any request but the load balancer's ``/health`` without
``Authorization: Bearer <token>`` is answered ``401`` with
``WWW-Authenticate`` (RFC 6750), before any route runs. The read token
enables no imports.
"""

from __future__ import annotations

from typing import Any

from .auth import bearer_token, token_matches
from .middleware import send_problem
from .problems import ApiProblem


class RequireToken:
    """``tokens`` empty: a public server, every request passes."""

    def __init__(self, app, tokens: tuple[str | None, ...] = (),
                 exempt: frozenset[str] = frozenset()):
        self.app = app
        self.tokens = tuple(t for t in tokens if t)
        self.exempt = exempt

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if not self.tokens or scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        auth = next((v.decode("latin-1") for k, v in scope["headers"]
                     if k == b"authorization"), None)
        given = bearer_token(auth)
        if any(token_matches(given, t) for t in self.tokens):
            await self.app(scope, receive, send)
            return
        problem = ApiProblem(401, "Unauthorized", "this twin is private: send "
                             "'Authorization: Bearer <token>'")
        await send_problem(send, problem, scope["path"],
                           (("WWW-Authenticate", 'Bearer realm="twin"'),))

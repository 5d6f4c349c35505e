"""Per-client rate limiting with token buckets.

Each client address has a bucket of ``burst`` tokens that refills at
``rate`` tokens per second; a request takes one token, and a request that
finds the bucket empty is answered ``429 Too Many Requests`` with
``Retry-After`` (the seconds until a token is back). A GIS client panning a
map sends bursts of tile-sized requests and then rests: the burst absorbs
that, the rate bounds what one address can take from everyone else.

Behind a reverse proxy every request comes from the proxy's address unless
the server trusts its ``X-Forwarded-For`` (uvicorn's ``--forwarded-allow-ips``).
The table of buckets is bounded: the longest-idle clients are forgotten first
(a forgotten client starts again with a full bucket).
"""

from __future__ import annotations

import math
from collections import OrderedDict


class RateLimiter:
    """Token buckets by client key. Used from the event loop only (no lock)."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000):
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take a token for ``client`` at time ``now`` (seconds); returns 0.0
        when the request may go on, else the seconds until it may retry."""
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            wait = 0.0
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` is whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

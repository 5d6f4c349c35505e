"""The federation a server holds: a client per member, what each offers,
and the threads that ask them all at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .capabilities import Capabilities, discover
from .client import Failure, MemberClient, MemberFailure
from .config import Federation, Member

T = TypeVar("T")
#: Seconds a member's declared capabilities are trusted before they are read
#: again (revalidated: an unchanged landing page costs a 304).
CAPABILITIES_TTL_S = 30.0


class FederationService:
    """Clients of the members of ``federation``; ``ask`` runs one call per
    member in parallel and returns each one's result or its failure."""

    def __init__(self, federation: Federation, *, threads: int = 16,
                 clients: dict[str, MemberClient] | None = None):
        self.federation = federation
        self.clients = clients or {m.name: MemberClient(m) for m in federation.members}
        self._pool = ThreadPoolExecutor(max(1, min(threads, 4 * len(federation.members))),
                                        thread_name_prefix="twin-federation")
        self._caps: dict[str, tuple[float, Capabilities]] = {}
        self._lock = threading.Lock()

    @property
    def members(self) -> tuple[Member, ...]:
        return self.federation.members

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for c in self.clients.values():
            c.close()

    def capabilities(self, name: str, *, refresh: bool = False) -> Capabilities:
        """What member ``name`` declares (raises :class:`MemberFailure`)."""
        now = time.monotonic()
        with self._lock:
            hit = self._caps.get(name)
        if hit is not None and not refresh and now - hit[0] < CAPABILITIES_TTL_S:
            return hit[1]
        caps = discover(self.clients[name])
        with self._lock:
            self._caps[name] = (time.monotonic(), caps)
        return caps

    def forget(self, name: str) -> None:
        """Read member ``name``'s capabilities afresh next time."""
        with self._lock:
            self._caps.pop(name, None)

    def ask(self, call: Callable[[Member, MemberClient, Capabilities], T],
            members: Sequence[Member] | None = None) -> list[T | Failure]:
        """``call(member, client, capabilities)`` for every member at once, in
        member order: its result, or the :class:`Failure` that stopped it (a
        member that is down, slow, refusing or answering nonsense)."""
        def one(m: Member) -> T | Failure:
            try:
                return call(m, self.clients[m.name], self.capabilities(m.name))
            except MemberFailure as exc:
                return exc.failure

        return list(self._pool.map(one, self.members if members is None else members))

"""The federated search's paging over sources of any size (hypothesis): the
pages, followed by their cursors, are each source's features once, in order."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from twin_api.federation.capabilities import CONF_WHERE, OGC_CORE, OGC_GEOJSON, Capabilities
from twin_api.federation.config import Federation, Member
from twin_api.federation.search import federated_search, parse_request


class _Source:
    """A member's twin in memory, answering ``/collections/{layer}/items``
    pages the way a member does (offset, limit, numberMatched)."""

    def __init__(self, name: str, sizes: dict[str, int]):
        self.name = name
        self.sizes = sizes

    def page(self, layer: str, params) -> dict:
        p = dict(params)
        off, lim = int(p["offset"]), int(p["limit"])
        n = self.sizes.get(layer, 0)
        feats = [{"type": "Feature", "id": f"{self.name}:{layer}:{i}"}
                 for i in range(off, min(n, off + lim))]
        return {"features": feats, "numberMatched": n}

    def get_json(self, path: str, params):
        return self.page(path.split("/")[2], params)


class _Service:
    def __init__(self, sources: list[_Source]):
        self.federation = Federation("own", "region", None, tuple(
            Member(s.name, "county", f"http://127.0.0.1/{s.name}") for s in sources))
        self.sources = {s.name: s for s in sources}
        self.caps = Capabilities(None, None, frozenset({OGC_CORE, OGC_GEOJSON, CONF_WHERE}), {})

    @property
    def members(self):
        return self.federation.members

    def ask(self, call, members=None):
        return [call(m, self.sources[m.name], self.caps) for m in members]


LAYERS = ("buildings", "heating")


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1,
                      max_size=4),
       limit=st.integers(1, 9), layers=st.sampled_from([LAYERS[:1], LAYERS]))
def test_pages_hold_every_feature_once_in_source_order(sizes, limit, layers):
    own = _Source("own", dict(zip(LAYERS, sizes[0], strict=True)))
    members = [_Source(f"m{i}", dict(zip(LAYERS, s, strict=True)))
               for i, s in enumerate(sizes[1:])]
    service = _Service(members)
    expected = [f"{s.name}:{layer}:{i}" for s in [own, *members] for layer in layers
                for i in range(s.sizes[layer])]
    got, cursor, pages = [], None, 0
    while True:
        req = parse_request(list(layers), None, [], limit, cursor)
        doc = federated_search(service, lambda layer, p: (own.page(layer, p)["features"],
                                                          own.sizes[layer]),
                               req, "http://region/federation/search")
        pages += 1
        assert len(doc["features"]) <= limit and not doc["partial"]
        got += [f["id"] for f in doc["features"]]
        if pages == 1:
            assert doc["numberMatched"] == len(expected)
        nxt = [x["href"] for x in doc["links"] if x["rel"] == "next"]
        if not nxt:
            break
        assert len(doc["features"]) == limit  # only a full page has a next one
        cursor = parse_qs(urlsplit(nxt[0]).query)["cursor"][0]
        assert pages <= len(expected) + 1
    assert got == expected

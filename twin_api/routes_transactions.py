"""OGC API - Features - Part 4 routes: HTTP in, :mod:`twin_api.transactions` out.

The routes exist only on a server with a token (``twin serve --token-file``):
on a read-only server (no token, or ``--as-of``) ``POST``, ``PUT``,
``PATCH`` and ``DELETE`` on items are ``405 Method Not Allowed`` with
``Allow: GET, HEAD``, as for any resource that offers no writes, and neither
``/conformance`` nor the OpenAPI document lists them. With a token, each
write needs ``Authorization: Bearer <token>`` (401 without it) and becomes
one import batch of the twin.
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

import asyncio
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from twin.errors import NotFoundError
from twin.store import is_server, open_twin
from twin.store.base import TwinStore

from . import transactions as tx
from .auth import require_token
from .encoding import JSON, json_response
from .features import GEOJSON
from .problems import ApiProblem, responses
from .routes_ogc import base_url
from .server_state import ServerState

MERGE_PATCH = "application/merge-patch+json"
_GEOMETRY = {"type": "object", "nullable": True, "required": ["type"],
             "properties": {"type": {"type": "string"}, "coordinates": {"type": "array",
                                                                      "items": {}}}}
_FEATURE = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["Feature"]},
    "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "geometry": _GEOMETRY,
    "properties": {"type": "object", "nullable": True}}}
_BODY_ONE = {"required": True, "content": {GEOJSON: {"schema": _FEATURE},
                                           JSON: {"schema": _FEATURE}}}
_COLLECTION = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"type": "string", "enum": ["FeatureCollection"]},
    "features": {"type": "array", "items": _FEATURE}}}
_BODY_NEW = {"required": True, "content": {
    media: {"schema": {"oneOf": [_FEATURE, _COLLECTION]}} for media in (GEOJSON, JSON)}}
_PATCH = {"type": "object", "properties": {"geometry": _GEOMETRY,
                                           "properties": {"type": "object"}}}
_BODY_PATCH = {"required": True, "content": {MERGE_PATCH: {"schema": _PATCH},
                                             JSON: {"schema": _PATCH}}}
_WRITTEN = {"X-Twin-Batch": {"description": "the import batch this request made (absent "
                                            "when it changed nothing)",
                             "schema": {"type": "integer"}}}
_TAG = {"ETag": {"description": "the entity tag of the feature's new version",
                 "schema": {"type": "string"}}}
WRITE_ERRORS = (400, 401, 404, 413, 415)

ContentCrs = Annotated[str | None, Header(
    alias="Content-Crs", description="the CRS of the body's coordinates, as <URI>: CRS84 "
    "(the default), EPSG:4326 or the twin's CRS (see the collection's 'crs')")]
IfMatch = Annotated[str | None, Header(
    alias="If-Match", description="the ETag of the version the edit is based on; "
    "412 when the feature has changed since")]


class _Writes:
    """The blocking part of each write, run on the server's threads: check
    everything against the read store, then write one batch through a
    writable store (one write at a time in this process; the twin's write
    lock keeps other processes out)."""

    def __init__(self, state: ServerState):
        self.state = state
        self.settings = state.settings
        self.one_writer = threading.Lock()
        self._server_store: TwinStore | None = None

    @contextmanager
    def writable(self) -> Iterator[Any]:
        """The twin, writable, for one write (the caller holds ``one_writer``).
        A GeoPackage is opened for each write, as an import job opens it (its
        store keeps the twin's metadata from when it was opened); a PostGIS
        twin's store is kept and reused, its connections with it (opening
        them was most of a write's time), and closed with the server."""
        path = self.settings.twin_path
        if not is_server(path):
            with open_twin(path) as store:
                yield store
            return
        if self._server_store is None:
            self._server_store = open_twin(path)
            self.state.on_close.append(self.close)
        yield self._server_store

    def close(self) -> None:
        with self.one_writer:
            if self._server_store is not None:
                self._server_store.close()
                self._server_store = None

    @staticmethod
    def tag_of(store, layer: str, fid: str) -> str:
        return tx.version_tag(store.path, tx.current_feature(store, layer, fid))

    def create(self, req: tx.WriteRequest, layer_name: str, doc: Any) -> tx.WriteResult:
        feats_in = tx.body_features(doc, self.settings.max_write_features,
                                    collection_allowed=True)
        read = self.state.get_store()
        layer = read.layer(layer_name)
        src = tx.source_crs(req.content_crs, read.crs)
        feats = []
        seen: set[str] = set()
        for i, d in enumerate(feats_in):
            where = f"feature {i}" if len(feats_in) > 1 else "the feature"
            fid = tx.feature_id_of(d, where) or tx.new_id()
            where = f"{where} ({fid!r})"
            if fid in seen:
                raise ApiProblem(400, "Bad request", f"{where}: the id comes twice")
            seen.add(fid)
            feats.append(tx.build_feature(d, fid, layer, src, read.crs, where))
        tx.check_placement(feats, read.crs, req.source)

        def absent(store) -> None:
            for f in feats:
                try:
                    store.get(f.id, meshes=False)
                except NotFoundError:
                    continue
                raise ApiProblem(409, "Conflict", f"feature {f.id!r} exists; PUT "
                                 f"/collections/{layer_name}/items/{{featureId}} replaces it")

        with self.one_writer, self.writable() as store:
            return tx.write(store, req, add=feats, before=absent)

    def replace(self, req: tx.WriteRequest, layer_name: str, fid: str, doc: Any,
                patch: bool) -> tuple[tx.WriteResult, str]:
        read = self.state.get_store()
        layer = read.layer(layer_name)
        src = tx.source_crs(req.content_crs, read.crs)
        where = f"feature {fid!r}"
        current = tx.current_feature(read, layer_name, fid)
        if patch:
            new = tx.merge_patch(current, doc, src, read.crs, layer, where)
        else:
            d = tx.body_features(doc, 1, collection_allowed=False)[0]
            given = tx.feature_id_of(d, where)
            if given is not None and given != fid:
                raise ApiProblem(400, "Bad request", f"the body's id {given!r} is not the "
                                 f"feature's id {fid!r} in the path")
            new = tx.build_feature(d, fid, layer, src, read.crs, where, current)
        tx.check_placement([new], read.crs, req.source)

        def unchanged_since(store) -> None:
            tx.check_if_match(req.if_match, self.tag_of(store, layer_name, fid), fid)

        with self.one_writer, self.writable() as store:
            res = tx.write(store, req, add=[new], before=unchanged_since)
            return res, self.tag_of(store, layer_name, fid)

    def delete(self, req: tx.WriteRequest, layer_name: str, fid: str) -> tx.WriteResult:
        self.state.get_store().layer(layer_name)

        def present(store) -> None:
            tx.check_if_match(req.if_match, self.tag_of(store, layer_name, fid), fid)

        with self.one_writer, self.writable() as store:
            return tx.write(store, req, retire=[fid], before=present)


def transactions_router(state: ServerState) -> APIRouter:
    """The write operations of OGC API - Features - Part 4 (token needed)."""
    settings = state.settings
    r = APIRouter(tags=["OGC API - Features - Part 4 (writes)"])
    writes = _Writes(state)

    def authorise(request: Request) -> str:
        return require_token(
            request, settings.token,
            disabled="this server is read-only; start it with a token to enable writes",
            needs="writing features needs 'Authorization: Bearer <token>' with the "
                  "server's token")

    async def run(fn, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(state.executor, functools.partial(fn, *args))

    def written(res: tx.WriteResult, status: int, extra: dict[str, str] | None = None
                ) -> Response:
        headers = dict(extra or {})
        if res.batch:
            headers["X-Twin-Batch"] = str(res.batch)
        if status == 204:
            return Response(status_code=204, headers=headers)
        return json_response({"batch": res.batch or None, "ids": res.ids},
                             status=status, headers=headers)

    def request_of(request: Request, who: str, content_crs: str | None) -> tx.WriteRequest:
        return tx.WriteRequest(request.method, request.url.path, who, content_crs)

    async def new_version(request: Request, collection: str, fid: str,
                          content_crs: str | None, if_match: str | None, *, merge: bool
                          ) -> Response:
        """PUT (``merge=False``) and PATCH (``merge=True``): one new version."""
        who = authorise(request)
        doc = tx.parse_json(await request.body(), request.headers.get("content-type"))
        req = tx.WriteRequest(request.method, request.url.path, who, content_crs, if_match)
        res, tag = await run(writes.replace, req, collection, fid, doc, merge)
        return written(res, 204, {"ETag": tag})

    # -- the routes -----------------------------------------------------------------------
    @r.post("/collections/{collectionId}/items", status_code=201, response_model=dict,
            summary="Add features to a layer: one import batch (token needed)",
            openapi_extra={"requestBody": _BODY_NEW},
            responses={201: {"description": "created; Location names a single new feature",
                             "headers": {"Location": {"schema": {"type": "string"}},
                                         **_WRITTEN}},
                       **responses(*WRITE_ERRORS, 409)})
    async def create(request: Request, collectionId: str, content_crs: ContentCrs = None
                     ) -> Response:
        """A GeoJSON Feature (or a FeatureCollection) becomes new features of the
        layer; features without an ``id`` get one from the server."""
        who = authorise(request)
        doc = tx.parse_json(await request.body(), request.headers.get("content-type"))
        req = request_of(request, who, content_crs)
        res = await run(writes.create, req, collectionId, doc)
        extra = {}
        if len(res.ids) == 1:
            extra["Location"] = f"{base_url(request)}/collections/{collectionId}/items/" \
                                f"{res.ids[0]}"
        return written(res, 201, extra)

    @r.put("/collections/{collectionId}/items/{featureId:path}", status_code=204,
           summary="Replace a feature: a new version, one import batch (token needed)",
           openapi_extra={"requestBody": _BODY_ONE},
           responses={204: {"description": "replaced", "headers": {**_WRITTEN, **_TAG}},
                      **responses(*WRITE_ERRORS, 412)})
    async def replace(request: Request, collectionId: str, featureId: str,
                      content_crs: ContentCrs = None, if_match: IfMatch = None) -> Response:
        return await new_version(request, collectionId, featureId, content_crs, if_match,
                                 merge=False)

    @r.patch("/collections/{collectionId}/items/{featureId:path}", status_code=204,
             summary="Update a feature (JSON merge patch): a new version (token needed)",
             openapi_extra={"requestBody": _BODY_PATCH},
             responses={204: {"description": "updated", "headers": {**_WRITTEN, **_TAG}},
                        **responses(*WRITE_ERRORS, 412)})
    async def update(request: Request, collectionId: str, featureId: str,
                     content_crs: ContentCrs = None, if_match: IfMatch = None) -> Response:
        """``properties`` are merged (``null`` removes an attribute); a
        ``geometry`` replaces the feature's."""
        return await new_version(request, collectionId, featureId, content_crs, if_match,
                                 merge=True)

    @r.delete("/collections/{collectionId}/items/{featureId:path}", status_code=204,
              summary="Retire a feature: a version ends it, nothing is erased (token needed)",
              responses={204: {"description": "retired", "headers": _WRITTEN},
                         **responses(400, 401, 404, 412)})
    async def delete(request: Request, collectionId: str, featureId: str,
                     if_match: IfMatch = None) -> Response:
        who = authorise(request)
        req = tx.WriteRequest(request.method, request.url.path, who, None, if_match)
        res = await run(writes.delete, req, collectionId, featureId)
        return written(res, 204)

    return r


__all__ = ["transactions_router"]

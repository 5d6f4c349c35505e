"""Import routes: an upload becomes a job on the twin's board (token needed).

``POST /twin/imports`` checks, in this order and before it reads a byte of
the body: the server takes imports at all (403), the bearer token (401), the
declared size (413) and room in the queue (429 with ``Retry-After``). Only
then does it stream the body into the work directory (:mod:`twin_api.uploads`),
where a second file, an oversize file or a stalled upload ends it.
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

import shutil
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from twin.numbers import is_whole_number
from twin.store.jobs import JobBoard, QueueFullError

from .auth import require_token
from .encoding import json_response
from .jobs import upload_path
from .problems import ApiProblem, responses
from .routes_ogc import base_url
from .server_state import ServerState
from .uploads import ENVELOPE_BYTES, receive_upload

IMPORTS_PATH = "/twin/imports"
_FORM = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "the source file; its name picks the converter"},
                   "crs": {"type": "string", "description": "the source CRS, when the file "
                                                            "does not say"},
                   "format": {"type": "string", "description": "a converter name, when the "
                                                               "extension is ambiguous"},
                   "force": {"type": "string", "enum": ["true", "false"],
                             "description": "'true' imports a file the placement check "
                                            "refuses (far outside the twin CRS's area of use, "
                                            "or implausibly large), with a warning"}}}}}}


def imports_router(state: ServerState) -> APIRouter:
    settings = state.settings
    r = APIRouter(tags=["Imports"])

    def authorise(request: Request) -> str:
        """The id of the request's token, or 403/401."""
        return require_token(
            request, settings.token if state.board is not None else None,
            disabled="imports over the API are disabled; start the server with a token "
                     "(twin serve --token-file FILE) to enable them",
            needs="this endpoint needs 'Authorization: Bearer <token>' with the server's token")

    async def board(request: Request) -> JobBoard:
        authorise(request)
        return state.imports()[0]

    Board = Annotated[JobBoard, Depends(board)]

    @r.post(IMPORTS_PATH, status_code=202, response_model=dict,
            summary="Upload a file and import it in the background (token needed)",
            openapi_extra={"requestBody": _FORM},
            responses={202: {"description": "the job, queued; Location names it"},
                       **responses(400, 401, 403, 408, 413, 415, 429)})
    async def start_import(request: Request) -> Response:
        try:
            return await _start_import(request)
        except ApiProblem as exc:  # refused: do not take the rest of the body either
            exc.headers["Connection"] = "close"
            raise

    async def _start_import(request: Request) -> Response:
        who = authorise(request)
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not is_whole_number(declared)
                                     or int(declared) > limit + ENVELOPE_BYTES):
            raise ApiProblem(413, "Upload too large",
                             f"the upload declares {declared} bytes; an upload may have at "
                             f"most {limit}")
        room = min(int(declared), limit) if declared is not None else limit
        jobs, runner, work_dir = state.imports()
        try:
            job = await anyio.to_thread.run_sync(
                lambda: jobs.reserve("(arriving)", room, state.queue_limits, who=who))
        except QueueFullError as exc:
            raise ApiProblem(429, "Import queue full", str(exc),
                             headers={"Retry-After": str(exc.retry_after)}) from None
        request.state.access["job"] = job.id

        async def alive(_: int) -> None:
            await anyio.to_thread.run_sync(jobs.touch, job.id)

        try:
            up = await receive_upload(
                request.stream(), request.headers.get("content-type", ""),
                lambda name: upload_path(work_dir, job.id, name),
                max_bytes=limit, idle_timeout_s=settings.upload_idle_timeout_s,
                fields=frozenset({"crs", "format", "force"}), progress=alive)
        except BaseException:
            await anyio.to_thread.run_sync(jobs.discard, job.id)
            shutil.rmtree(work_dir / f"job-{job.id}", ignore_errors=True)
            raise
        request.state.access.update({"file": up.filename, "upload_bytes": up.size})
        queued = await anyio.to_thread.run_sync(
            jobs.enqueue, job.id, up.filename, up.size,
            {"upload": str(up.path), "crs": up.fields.get("crs") or None,
             "format": up.fields.get("format") or None,
             "force": (up.fields.get("force") or "").strip().lower() in ("true", "1", "yes")})
        runner.wake()
        return json_response(queued.public(), status=202,
                             headers={"Location": f"{base_url(request)}{IMPORTS_PATH}/{job.id}"})

    @r.get(IMPORTS_PATH, summary="Import jobs, newest first (token needed)",
           response_model=dict, responses=responses(401, 403))
    @state.blocking
    def list_imports(jobs: Board) -> Response:
        return json_response({"jobs": [j.public() for j in jobs.jobs()]})

    @r.get(IMPORTS_PATH + "/{job_id}", summary="One import job (token needed)",
           response_model=dict, responses=responses(401, 403, 404))
    @state.blocking
    def get_import(job_id: str, jobs: Board) -> Response:
        return json_response(jobs.get(job_id).public())

    return r


async def ignore_disconnect(request: Request, exc: Exception) -> Response:
    """A client that left mid-upload gets nothing (it is gone); not an error.
    The handler of :class:`~starlette.requests.ClientDisconnect` (Starlette
    types its handlers' ``exc`` as any exception)."""
    return Response(status_code=400)

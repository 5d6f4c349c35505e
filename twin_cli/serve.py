"""``twin serve``: the API (and the web viewer) over HTTP with uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click

from .options import TWIN, as_of_option


@click.command()
@click.argument("path", type=TWIN)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes. Import jobs are kept with the twin, so any worker "
                   "answers any job and one import runs at a time.")
@click.option("--title", default="Digital twin city", show_default=True,
              help="Title on the landing page.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding the token that enables imports over the API and feature "
                   "writes (OGC API - Features - Part 4: POST/PUT/PATCH/DELETE on items, each "
                   "one import batch) for requests that carry it (also read from "
                   "$TWIN_API_TOKEN). Without one the API is read-only.")
@click.option("--max-limit", default=10_000, show_default=True, type=click.IntRange(1),
              help="Largest page of features (a larger 'limit' is capped to it).")
@click.option("--tiles", "tiles_dir", type=click.Path(exists=True, file_okay=False),
              default=None, help="A 3D Tiles export of the twin to serve at /tiles; the "
                                 "web viewer then streams it (for large twins).")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Where uploads wait for their import (default: a temporary directory, "
                   "removed when the server stops; give one so that queued imports "
                   "survive a restart).")
@click.option("--max-upload-mb", default=512, show_default=True, type=click.IntRange(1),
              help="Largest file one import may upload.")
@click.option("--max-queued", default=20, show_default=True, type=click.IntRange(1),
              help="Imports that may wait; beyond, uploads are answered 429 with Retry-After.")
@click.option("--max-queued-mb", default=2048, show_default=True, type=click.IntRange(1),
              help="Megabytes the waiting uploads (and the running one) may hold together.")
@click.option("--rate-limit", default=100.0, show_default=True, type=click.FloatRange(0),
              help="Requests per second each client address may make on average (0: off); "
                   "beyond, 429 with Retry-After.")
@click.option("--rate-burst", default=200, show_default=True, type=click.IntRange(1),
              help="Requests a client may make in one burst.")
@click.option("--request-timeout", default=30.0, show_default=True,
              type=click.FloatRange(0.1), help="Seconds a request may take before its answer "
                                               "begins; beyond, 503 with Retry-After.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker that answer requests (each keeps a read connection "
                   "and its page cache).")
@click.option("--max-connections", default=1000, show_default=True, type=click.IntRange(1),
              help="Open connections per worker; beyond, new requests are answered 503.")
@click.option("--access-log", default="-", show_default=True,
              help="File for the access log, one JSON object per request ('-': standard "
                   "error, 'off': none).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A web origin (https://maps.example.org; repeatable; '*' for any) whose "
                   "pages may read the API and the 3D Tiles from the browser (CORS). "
                   "Default: none.")
@click.option("--members", "members_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="A TOML file naming member twins (a region's cities and "
                                 "counties): adds the federated search, indicator roll-up "
                                 "and region scene under /federation (docs/federation.md).")
@click.option("--read-token-file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="File holding a token every request must then carry, reads "
                                 "included (also $TWIN_API_READ_TOKEN): a member twin only its "
                                 "region reads. It enables no imports.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@as_of_option
def serve(path, host, port, workers, title, token_file, max_limit, tiles_dir, work_dir,
          max_upload_mb, max_queued, max_queued_mb, rate_limit, rate_burst, request_timeout,
          threads, max_connections, access_log, cors_origins, members_file, read_token_file,
          log_level, as_of) -> None:
    """Serve the twin at PATH: OGC API - Features for QGIS and GDAL (add
    http://HOST:PORT as an "OGC API - Features" connection), twin endpoints
    under /twin, the API documentation at /docs, a health check for load
    balancers at /health and the 3D viewer at /viewer. With --members, the
    twin of a region or city over its members' twins at /federation.

    With --as-of, the whole server shows the twin as it was then (read-only,
    no imports); without, any request may ask for a moment itself
    (/twin/...?as_of=, OGC items ?datetime=)."""
    import uvicorn

    from twin.store import is_server
    from twin_api.middleware import log_access_to
    from twin_api.settings import ApiSettings

    token = Path(token_file).read_text().strip() if token_file else \
        os.environ.get("TWIN_API_TOKEN") or None
    batch = None
    if as_of is not None:
        if token:
            raise click.UsageError("--as-of serves a past state, read-only: no --token-file")
        from twin.store import open_twin, resolve_as_of

        with open_twin(path, readonly=True) as store:
            batch = resolve_as_of(store, as_of)
    own_dir = None
    if token and work_dir is None and workers > 1:  # one directory every worker sees
        work_dir = own_dir = tempfile.mkdtemp(prefix="twin-uploads-")
    settings = ApiSettings(
        twin_path=path if is_server(path) else str(Path(path).resolve()), title=title, token=token,
        max_limit=max_limit, default_limit=min(100, max_limit),
        tiles_dir=str(Path(tiles_dir).resolve()) if tiles_dir else None,
        work_dir=str(Path(work_dir).resolve()) if work_dir else None,
        max_upload_bytes=max_upload_mb * 1024**2, max_queued_jobs=max_queued,
        max_queued_bytes=max_queued_mb * 1024**2, rate_limit=rate_limit,
        rate_burst=rate_burst, request_timeout_s=request_timeout, threads=threads,
        access_log=None if access_log == "off" else access_log,
        cors_origins=",".join(cors_origins) or None,
        members_file=str(Path(members_file).resolve()) if members_file else None,
        read_token=Path(read_token_file).read_text().strip() if read_token_file else
        os.environ.get("TWIN_API_READ_TOKEN") or None, as_of=batch)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"serving {path} at http://{shown}:{port}/ (viewer: http://{shown}:{port}/viewer/, "
               f"API docs: http://{shown}:{port}/docs); imports "
               f"{'enabled with the token' if token else 'disabled (read-only)'}", err=True)
    common = dict(host=host, port=port, log_level=log_level, access_log=False,
                  limit_concurrency=max_connections)
    try:
        if workers == 1:
            from twin_api.app import create_app

            log_access_to(settings.access_log)
            uvicorn.run(create_app(settings), **common)
        else:
            os.environ.update(settings.to_env())
            uvicorn.run("twin_api.app:app_from_env", factory=True, workers=workers, **common)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)

"""``twin serve``: the API (and the web viewer) over HTTP with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .options import TWIN


@click.command()
@click.argument("path", type=TWIN)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes.")
@click.option("--title", default="Digital twin city", show_default=True,
              help="Title on the landing page.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding the token that enables imports over the API (also read from "
                   "$TWIN_API_TOKEN). Without one the API is read-only.")
@click.option("--max-limit", default=10_000, show_default=True, type=click.IntRange(1),
              help="Largest page of features.")
@click.option("--tiles", "tiles_dir", type=click.Path(exists=True, file_okay=False),
              default=None, help="A 3D Tiles export of the twin to serve at /tiles; the "
                                 "web viewer then streams it (for large twins).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(path, host, port, workers, title, token_file, max_limit, tiles_dir,
          log_level) -> None:
    """Serve the twin at PATH: OGC API - Features for QGIS and GDAL (add
    http://HOST:PORT as an "OGC API - Features" connection), twin endpoints
    under /twin, the API documentation at /docs and the 3D viewer at /viewer."""
    import uvicorn

    from twin.store import is_server
    from twin_api.settings import ApiSettings

    token = Path(token_file).read_text().strip() if token_file else \
        os.environ.get("TWIN_API_TOKEN") or None
    settings = ApiSettings(twin_path=path if is_server(path) else str(Path(path).resolve()),
                           title=title, token=token,
                           max_limit=max_limit, default_limit=min(100, max_limit),
                           tiles_dir=str(Path(tiles_dir).resolve()) if tiles_dir else None)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"serving {path} at http://{shown}:{port}/ (viewer: http://{shown}:{port}/viewer/, "
               f"API docs: http://{shown}:{port}/docs); imports "
               f"{'enabled with the token' if token else 'disabled (read-only)'}", err=True)
    if workers == 1:
        from twin_api.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
    else:
        os.environ.update(settings.to_env())
        uvicorn.run("twin_api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level)

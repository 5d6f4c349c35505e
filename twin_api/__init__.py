"""The twin's HTTP API: OGC API - Features for GIS tools, twin endpoints for
applications and the web viewer.

Build the app with :func:`twin_api.app.create_app` from an
:class:`~twin_api.settings.ApiSettings`; ``twin serve`` runs it with uvicorn.
FastAPI is imported only by :mod:`twin_api.app` and the route modules it loads
(``import twin_api`` stays light).
"""

from .settings import ApiSettings

__all__ = ["ApiSettings"]

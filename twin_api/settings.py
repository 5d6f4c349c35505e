"""Settings of one API server (nothing is read at import time)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ConfigError

#: Environment variables read by :meth:`ApiSettings.from_env` (``twin serve``
#: passes its options this way to uvicorn's worker processes).
ENV_PREFIX = "TWIN_API_"
#: RFC 6750's b64token: what a bearer token may be made of.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: A web origin: scheme, host and optional port (RFC 6454), no path.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True)
class ApiSettings:
    """How one server behaves.

    Parameters
    ----------
    twin_path : the twin file served (opened read-only).
    title : shown on the landing page.
    token : when set, write endpoints (imports) are enabled for requests that
        carry ``Authorization: Bearer <token>``; when ``None`` the API is
        read-only.
    default_limit, max_limit : page sizes of item queries.
    max_bbox_area_km2 : largest bbox a scene export or analysis may ask for.
    max_scene_features : most features in one GLB scene.
    max_upload_bytes : largest file an import may upload.
    work_dir : where uploads are kept while they are imported (a temporary
        directory when ``None``); file names there are chosen by the server.
    viewer_dir : the built web viewer served at ``/viewer`` (``None``: the
        packaged one when it has been built, else no viewer).
    tiles_dir : a 3D Tiles export of the twin (``twin export --format 3dtiles``)
        served at ``/tiles``; the web viewer streams it instead of one scene.
    max_queued_jobs, max_queued_bytes : how many imports may wait (uploads
        still arriving included) and how many bytes their uploads and the
        running one's may hold; beyond either, ``429`` with ``Retry-After``.
    rate_limit, rate_burst : requests per second each client address may make
        on average, and in one burst (a token bucket); ``0`` turns it off.
    max_request_bytes : largest body of a request other than an upload (a
        feature written through OGC API - Features - Part 4 included), and
        largest request target (path and query).
    max_write_features : most features one write request (``POST`` of a
        FeatureCollection) may hold.
    request_timeout_s : a request whose answer has not begun after this many
        seconds is answered ``503`` with ``Retry-After``.
    upload_idle_timeout_s : an upload that sends nothing for this long is
        answered ``408``.
    threads : the worker threads that answer requests (each keeps its own
        read connection and page cache: memory is bounded by this).
    cache_mb : memory for results kept per twin revision (indicators,
        statistics, scenes).
    access_log : ``None``: requests are logged as JSON lines through the
        ``twin_api.access`` logger; ``twin serve`` sends them to this file
        (``-``: standard error).
    cors_origins : web origins (``https://maps.example.org``, comma-separated; ``*``
        for any) whose pages may read the API and the tiles (CORS); ``None``
        (the default): none, browsers keep other origins' pages out.
    job_stale_s : an import whose process has not signalled for this long
        is taken for dead (and failed); an upload silent this long, forgotten.
    members_file : a TOML file naming member twins (a region's cities and
        counties, :mod:`twin_api.federation.config`); the server then offers
        the federated search, roll-up and region scene under ``/federation``.
    read_token : when set, every request (but ``/health``) must carry it (or
        the import ``token``), reads included: a member twin that only its
        region may read. It enables no imports.
    """

    twin_path: str
    title: str = "Digital twin city"
    token: str | None = None
    default_limit: int = 100
    max_limit: int = 10_000
    max_bbox_area_km2: float = 25.0
    max_scene_features: int = 20_000
    max_upload_bytes: int = 512 * 1024**2
    work_dir: str | None = None
    viewer_dir: str | None = None
    tiles_dir: str | None = None
    max_queued_jobs: int = 20
    max_queued_bytes: int = 2 * 1024**3
    rate_limit: float = 100.0
    rate_burst: int = 200
    max_request_bytes: int = 64 * 1024
    max_write_features: int = 100
    request_timeout_s: float = 30.0
    upload_idle_timeout_s: float = 30.0
    threads: int = 8
    cache_mb: int = 64
    access_log: str | None = None
    job_stale_s: float = 60.0
    cors_origins: str | None = None
    members_file: str | None = None
    read_token: str | None = None
    #: serve the twin as it was right after this import batch (read-only)
    as_of: int | None = None

    def __post_init__(self) -> None:
        from twin.store import is_server

        if not is_server(self.twin_path) and not Path(self.twin_path).is_file():
            raise ConfigError(f"{self.twin_path}: no such twin file")
        if self.tiles_dir is not None and not (Path(self.tiles_dir) / "tileset.json").is_file():
            raise ConfigError(f"{self.tiles_dir}: no tileset.json there (make one with "
                            "'twin export --format 3dtiles --out DIR')")
        if self.members_file is not None and not Path(self.members_file).is_file():
            raise ConfigError(f"{self.members_file}: no such members file")
        for what, tok in (("API token", self.token), ("read token", self.read_token)):
            if tok is None:
                continue
            if len(tok) < 16:
                raise ConfigError(f"the {what} must be at least 16 characters long")
            if not _B64TOKEN.fullmatch(tok):
                raise ConfigError(f"the {what} may hold only letters, digits and - . _ ~ + / "
                                "(and = at its end): what an 'Authorization: Bearer' header "
                                "can carry (RFC 6750)")
        for name in ("max_queued_jobs", "max_queued_bytes", "max_upload_bytes", "rate_burst",
                     "max_request_bytes", "max_write_features", "threads", "request_timeout_s",
                     "upload_idle_timeout_s", "job_stale_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.as_of is not None and (self.as_of < 0 or self.token is not None):
            raise ConfigError("as_of must be a batch number >= 0, and a twin served as of a "
                              "batch is read-only (no token)")
        if self.rate_limit < 0 or self.cache_mb < 0:
            raise ConfigError("rate_limit and cache_mb must not be negative (0 turns them off)")
        for origin in self.cors_list():
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ConfigError(f"CORS origin {origin!r} is not an origin: write "
                                  "scheme://host[:port] without a path (or * for any)")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ConfigError(
                f"default_limit ({self.default_limit}) must be between 1 and max_limit "
                f"({self.max_limit})")

    def cors_list(self) -> list[str]:
        """The CORS origins, one string each."""
        return [o.strip() for o in (self.cors_origins or "").split(",") if o.strip()]

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables (for worker processes)."""
        env = {}
        for name, value in self.__dict__.items():
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value)
        return env

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        kw: dict[str, object] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            typ = field.type if isinstance(field.type, str) else field.type.__name__
            if typ.startswith("bool"):
                kw[name] = raw == "True"
            elif typ.startswith("int"):
                kw[name] = int(raw)
            elif typ.startswith("float"):
                kw[name] = float(raw)
            else:
                kw[name] = raw
        if "twin_path" not in kw:
            raise ConfigError(f"{ENV_PREFIX}TWIN_PATH is not set: which twin should be served?")
        return cls(**kw)  # type: ignore[arg-type]

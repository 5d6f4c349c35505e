"""Settings of one API server (nothing is read at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ConfigError

#: Environment variables read by :meth:`ApiSettings.from_env` (``twin serve``
#: passes its options this way to uvicorn's worker processes).
ENV_PREFIX = "TWIN_API_"


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

    def __post_init__(self) -> None:
        from twin.store import is_server

        if not is_server(self.twin_path) and not Path(self.twin_path).is_file():
            raise ConfigError(f"{self.twin_path}: no such twin file")
        if self.tiles_dir is not None and not (Path(self.tiles_dir) / "tileset.json").is_file():
            raise ConfigError(f"{self.tiles_dir}: no tileset.json there (make one with "
                            "'twin export --format 3dtiles --out DIR')")
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("the API token must be at least 16 characters long")
        if not 1 <= self.default_limit <= self.max_limit:
            raise ConfigError(
                f"default_limit ({self.default_limit}) must be between 1 and max_limit "
                f"({self.max_limit})")

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
            if typ.startswith("int"):
                kw[name] = int(raw)
            elif typ.startswith("float"):
                kw[name] = float(raw)
            else:
                kw[name] = raw
        if "twin_path" not in kw:
            raise ConfigError(f"{ENV_PREFIX}TWIN_PATH is not set: which twin should be served?")
        return cls(**kw)  # type: ignore[arg-type]

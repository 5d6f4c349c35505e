"""The toolkit's cache folder: things made once and kept between runs
(compiled schema validators, empty twin templates), each keyed by what it
depends on, so that a stale entry is never read, only left unused."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    """Where things are kept between runs: ``$TWIN_CACHE_DIR`` (empty:
    nowhere), else ``$XDG_CACHE_HOME/digital-twin-city`` or
    ``~/.cache/digital-twin-city``; ``None`` where it cannot be made."""
    env = os.environ.get("TWIN_CACHE_DIR")
    if env == "":
        return None
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or
                                      Path.home() / ".cache") / "digital-twin-city"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base

"""Member twins of a federation, read from a TOML file.

A region's twin names the twins of its league-cities and counties (and a
city's those of its counties)::

    [federation]                 # this twin
    name = "Inner Mongolia"
    level = "region"             # region, city or county
    code = "150000"              # administrative division code

    [[members]]
    name = "hohhot"
    level = "city"
    code = "150100"
    url = "http://10.0.0.7:8000"     # where the member's 'twin serve' answers
    token_env = "HOHHOT_TWIN_TOKEN"  # or token_file = "/etc/twin/hohhot.token"

A token is never written in the file (nor given on a command line, where
``ps`` shows it): the file names the environment variable or the file that
holds it. :class:`Member` keeps the token out of its ``repr`` so that no log
line can carry it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from twin.errors import ConfigError

LEVELS = ("region", "city", "county")
#: Most members one file may name (each costs a request per federated query).
MAX_MEMBERS = 64
MAX_FILE_BYTES = 256 * 1024
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_MEMBER_KEYS = frozenset({"name", "level", "code", "url", "token_env", "token_file",
                          "timeout_s", "retries"})
_SELF_KEYS = frozenset({"name", "level", "code"})


@dataclass(frozen=True)
class Member:
    """One member twin: who it is and how to reach it.

    ``timeout_s`` bounds each request to it (connecting, and waiting for the
    answer); ``retries`` how often a request that failed for the network or
    a 502/503/504 is tried again.
    """

    name: str
    level: str
    url: str
    code: str | None = None
    token: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    retries: int = 1

    @property
    def has_token(self) -> bool:
        return self.token is not None


@dataclass(frozen=True)
class Federation:
    """This twin (``name``, ``level``, ``code``) and its members."""

    name: str
    level: str
    code: str | None
    members: tuple[Member, ...]

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise ConfigError(f"no member named {name!r}; members: "
                          f"{', '.join(m.name for m in self.members) or 'none'}")


def _optional_text(where: str, table: dict, key: str) -> str | None:
    v = table.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string, got {v!r}")
    return v.strip()


def _text(where: str, table: dict, key: str) -> str:
    v = _optional_text(where, table, key)
    if v is None:
        raise ConfigError(f"{where}: '{key}' is missing")
    return v


def _level(where: str, table: dict) -> str:
    level = _text(where, table, "level")
    if level not in LEVELS:
        raise ConfigError(f"{where}: level {level!r} is not one of {', '.join(LEVELS)}")
    return level


def _name(where: str, table: dict) -> str:
    name = _text(where, table, "name")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must be 1-63 lower-case letters, digits, "
                          "'-' or '_' (it appears in URLs and cursors)")
    return name


def _token(where: str, table: dict, base: Path, environ: dict[str, str]) -> str | None:
    env_name = _optional_text(where, table, "token_env")
    file_name = _optional_text(where, table, "token_file")
    if env_name and file_name:
        raise ConfigError(f"{where}: give token_env or token_file, not both")
    if env_name:
        token = environ.get(env_name, "").strip()
        if not token:
            raise ConfigError(f"{where}: the environment variable {env_name} (token_env) is "
                              "not set or empty")
        return token
    if file_name:
        path = (base / file_name).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read token_file {path}: "
                              f"{exc.strerror or exc}") from exc
        if not token:
            raise ConfigError(f"{where}: token_file {path} is empty")
        return token
    return None


def _number(where: str, table: dict, key: str, default: float, lo: float, hi: float
            ) -> float:
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError(f"{where}: '{key}' must be a number from {lo:g} to {hi:g}, got {v!r}")
    return v


def _member(where: str, table: dict, base: Path, environ: dict[str, str]) -> Member:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    name = _name(where, table)
    where = f"{where} ({name})"
    unknown = sorted(set(table) - _MEMBER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(sorted(_MEMBER_KEYS))} (a token goes in an "
                          "environment variable or a file, never in this file)")
    url = _text(where, table, "url").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{where}: url {url!r} must be http(s)://host[:port][/path] "
                          "without query, fragment or credentials")
    return Member(name=name, level=_level(where, table), url=url,
                  code=_optional_text(where, table, "code"),
                  token=_token(where, table, base, environ),
                  timeout_s=float(_number(where, table, "timeout_s", 10.0, 0.1, 120.0)),
                  retries=int(_number(where, table, "retries", 1, 0, 5)))


def load_federation(path: str | Path, environ: dict[str, str] | None = None) -> Federation:
    """Read a members file (see the module's documentation). Errors name the
    file, the member and what is wrong."""
    path = Path(path)
    env = dict(os.environ if environ is None else environ)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB; "
                              "is this a members file?")
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the members file: "
                          f"{exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - {"federation", "members"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; "
                          "expected [federation] and [[members]]")
    me = doc.get("federation", {})
    if not isinstance(me, dict) or set(me) - _SELF_KEYS:
        raise ConfigError(f"{path}: [federation] holds name, level and code only")
    where = f"{path}: [federation]"
    members = doc.get("members", [])
    if not isinstance(members, list) or not members:
        raise ConfigError(f"{path}: no [[members]]: name at least one member twin")
    if len(members) > MAX_MEMBERS:
        raise ConfigError(f"{path}: {len(members)} members, at most {MAX_MEMBERS}")
    out = tuple(_member(f"{path}: member {i + 1}", m, path.parent, env)
                for i, m in enumerate(members))
    own = _name(where, me)
    names = [own] + [m.name for m in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: name(s) {', '.join(dup)} given twice (this twin's "
                          "[federation] name counts too)")
    return Federation(name=own, level=_level(where, me),
                      code=_optional_text(where, me, "code"), members=out)

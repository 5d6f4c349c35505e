"""The section layout of EPANET and SWMM ``.inp`` files, with line numbers.

Both formats are plain text: a ``[SECTION]`` header, then one item per line,
fields separated by blanks, ``;`` starting a comment, double quotes around
names that contain blanks (SWMM). The readers of the field (wntr, the SWMM
engine) say *that* a file is wrong; this module keeps *where* everything is,
so that a converter can name the section and the line at fault, count the
rows of a section independently of the reader, or hand the reader a copy
without the lines it cannot understand.

>>> s = scan("[TITLE]\\nnet\\n[JUNCTIONS]\\n;id elev\\n J1 10 ; a comment\\n")
>>> [(x.name, x.header_line, [(r.line, r.fields) for r in x.rows]) for x in s]
[('TITLE', 1, [(2, ('net',))]), ('JUNCTIONS', 3, [(5, ('J1', '10'))])]
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

_HEADER = re.compile(r"^\s*\[([^\]]+)\]")


@dataclass(frozen=True)
class Row:
    """One item line: its 1-based line number, its fields and its text."""

    line: int
    fields: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Section:
    name: str
    header_line: int
    rows: tuple[Row, ...]

    @property
    def last_line(self) -> int:
        return self.rows[-1].line if self.rows else self.header_line


def _fields(text: str) -> tuple[str, ...]:
    if '"' not in text:
        return tuple(text.split())
    try:
        return tuple(shlex.split(text, posix=True))
    except ValueError:  # an unbalanced quote: keep the raw words
        return tuple(text.split())


def _strip_comment(line: str) -> str:
    if ";" not in line:
        return line
    if '"' not in line:
        return line.split(";", 1)[0]
    inside = False
    for k, ch in enumerate(line):
        if ch == '"':
            inside = not inside
        elif ch == ";" and not inside:
            return line[:k]
    return line


def scan(text: str) -> list[Section]:
    """Every section of ``text`` in file order (a name may come twice)."""
    out: list[Section] = []
    name: str | None = None
    header = 0
    rows: list[Row] = []
    for k, raw in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(raw)
        if m:
            if name is not None:
                out.append(Section(name, header, tuple(rows)))
            name, header, rows = m.group(1).strip().upper(), k, []
            continue
        body = _strip_comment(raw).strip()
        if name is not None and body:
            rows.append(Row(k, _fields(body), raw.rstrip("\r\n")))
    if name is not None:
        out.append(Section(name, header, tuple(rows)))
    return out


def rows_of(sections: Iterable[Section], name: str) -> list[Row]:
    """The rows of every section called ``name`` (upper case, no brackets)."""
    return [r for s in sections if s.name == name for r in s.rows]


def without_lines(text: str, lines: Iterable[int]) -> str:
    """``text`` with the given 1-based lines commented out (line numbers kept)."""
    drop = set(lines)
    if not drop:
        return text
    out = text.splitlines(keepends=True)
    for k in drop:
        if 1 <= k <= len(out):
            end = "\n" if out[k - 1].endswith("\n") else ""
            out[k - 1] = ";" + out[k - 1].replace("\r", "").rstrip("\n") + end
    return "".join(out)


def without_sections(text: str, sections: Iterable[Section], names: Iterable[str]) -> str:
    """``text`` with the item lines of the named sections commented out."""
    names = set(names)
    return without_lines(text, [r.line for s in sections if s.name in names for r in s.rows])

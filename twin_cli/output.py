"""Terminal output shared by the ``twin`` commands.

Text that comes from files (names, ids, error messages quoting ``[x, y, z]``)
is escaped before rich prints it: rich would read it as markup, lose words,
or fail on a stray closing tag.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

from converters.report import Note

#: Errors and progress go to standard error; results to standard output.
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

_STYLE = {"warn": "yellow", "ok": "green", "info": ""}


def print_notes(out: Console, notes: Iterable[Note]) -> None:
    """Summary lines of an import, indented by depth, coloured by level."""
    for n in notes:
        style = _STYLE.get(n.level, "")
        text = escape(n.text)
        out.print("  " * n.depth + (f"[{style}]{text}[/]" if style else text), highlight=False)

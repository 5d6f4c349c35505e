"""Terminal output shared by the ``twin`` commands.

Text that comes from files (ids, names, types, layer titles, paths,
attribute values, error messages quoting ``[x, y, z]``) must reach the
terminal as it is: rich would read ``[bold]`` or ``[/]`` in it as markup,
lose words, or fail on a stray closing tag after an import has already
committed. So every console here has markup **off**: strings, table cells and
titles print literally, and the commands' own colours are given as
:class:`rich.text.Text` with a style (:func:`styled`), never as markup.

>>> import io
>>> out = console(file=io.StringIO(), width=60)
>>> out.print(styled("error:", "bold red"), "feature '[/]' of [bold]x.geojson")
>>> out.file.getvalue()
"error: feature '[/]' of [bold]x.geojson\\n"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from converters.report import Note

_STYLE = {"warn": "yellow", "ok": "green", "info": ""}

#: Styles of the health check's statuses (see twin.analysis.indicators).
STATUS_STYLE = {"met": "green", "not met": "red", "no data": "yellow"}


def console(*, stderr: bool = False, soft_wrap: bool = False, file: IO[str] | None = None,
            width: int | None = None) -> Console:
    """A console that prints every string literally (markup and highlighting
    off): results to standard output, errors and progress to standard error."""
    return Console(stderr=stderr, file=file, width=width, soft_wrap=soft_wrap, markup=False,
                   highlight=False)


#: Errors and progress go to standard error; results to standard output.
err_console = console(stderr=True, soft_wrap=True)


def styled(text: Any, style: str = "") -> Text:
    """``text`` (any value, printed as it is) in a rich style such as ``"bold red"``."""
    return Text(str(text), style=style)


def progress(*, disable: bool = False) -> Progress:
    """A transient progress bar on standard error; task descriptions (file
    names) print literally."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                    transient=True, disable=disable)


def print_notes(out: Console, notes: Iterable[Note]) -> None:
    """Summary lines of an import, indented by depth, coloured by level."""
    for n in notes:
        out.print(styled("  " * n.depth + n.text, _STYLE.get(n.level, "")))

"""Parsing helpers shared by the ``twin`` commands."""

from __future__ import annotations

import click


def floats(text: str, n: int, what: str) -> tuple[float, ...]:
    """``"1,2,3,4"`` -> ``(1.0, 2.0, 3.0, 4.0)``; a click error naming ``what``
    unless there are exactly ``n`` numbers."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}")
    if len(vals) != n:
        raise click.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}")
    return vals
